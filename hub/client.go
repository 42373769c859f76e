// Package hub resolves Hugging Face repositories ("ORG/NAME") to local
// directories and downloads what is missing.
//
// It reads and writes the cache exactly as the Python huggingface_hub library
// does, so both share one copy of every file:
//
//	$HF_HUB_CACHE/models--ORG--NAME/
//	    refs/main                       commit hash of the branch, no newline
//	    blobs/<etag>                    file contents; etag = sha256 (LFS) or git blob sha1
//	    blobs/<etag>.incomplete         a download in progress (resumed next time)
//	    snapshots/<commit>/<path>       relative symlink to ../../blobs/<etag>
//	$HF_HUB_CACHE/.locks/models--ORG--NAME/<etag>.lock
//
// Files come from the Hub's resolve endpoint
// ({endpoint}/{repo}/resolve/{revision}/{path}, datasets under /datasets/):
// a HEAD request (following only same-host redirects) gives the commit
// (X-Repo-Commit), the etag (X-Linked-Etag or ETag) and the size
// (X-Linked-Size or Content-Length) and, for LFS files, the CDN location; a
// GET then downloads into blobs/<etag>.incomplete, resuming with Range after a
// dropped connection, and the result is verified (size, and sha256 or git
// sha1 against the etag) before it is renamed into place. A repository's file
// list comes from {endpoint}/api/{models|datasets}/{repo}/revision/{revision}.
//
// The package owns the cache layout and the Hub protocol only: it knows
// nothing about models, tokenizers or datasets beyond the names of the files a
// model directory needs.
package hub

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// DefaultEndpoint is the Hugging Face Hub, used when HF_ENDPOINT is unset.
const DefaultEndpoint = "https://huggingface.co"

// Client downloads from a Hugging Face Hub into a local cache. The zero value
// is usable (default endpoint, default cache, no token, silent); it is safe
// for concurrent use as long as its fields are not changed meanwhile.
type Client struct {
	// Endpoint is the Hub's base URL (HF_ENDPOINT); "" means DefaultEndpoint.
	Endpoint string
	// Token is sent as "Authorization: Bearer TOKEN" to the Hub (never to a
	// CDN on another host); "" sends none.
	Token string
	// CacheDir is the hub cache, the folder holding models--ORG--NAME;
	// "" means DefaultCacheDir().
	CacheDir string
	// Offline forbids network access: only what is cached can be resolved.
	Offline bool
	// HTTP is the client used for every request; nil means one with connect
	// and response-header timeouts (a download itself has no deadline, but
	// one that stalls is retried).
	HTTP *http.Client
	// Progress receives download progress: a bar redrawn with \r when it is a
	// terminal, otherwise a line every few seconds. nil means silent.
	Progress io.Writer

	// Knobs for tests; zero means the default.
	retryWait    time.Duration // first wait before retrying a failed transfer
	stallTimeout time.Duration // no bytes for this long counts as a dropped connection
	maxRetries   int           // consecutive attempts without progress before giving up
	lineEvery    time.Duration // progress line interval when Progress is not a terminal
}

// NewClientFromEnv returns a Client configured the way huggingface_hub reads
// its environment: HF_ENDPOINT (default https://huggingface.co), HF_TOKEN
// (else HUGGING_FACE_HUB_TOKEN, else the file HF_TOKEN_PATH or
// $HF_HOME/token), the cache directory of DefaultCacheDir, and HF_HUB_OFFLINE
// (else TRANSFORMERS_OFFLINE) as 1/ON/YES/TRUE. Progress goes to os.Stderr
// unless HF_HUB_DISABLE_PROGRESS_BARS is true.
func NewClientFromEnv() *Client {
	c := &Client{
		Endpoint: strings.TrimRight(os.Getenv("HF_ENDPOINT"), "/"),
		Token:    tokenFromEnv(),
		CacheDir: DefaultCacheDir(),
		Offline:  OfflineFromEnv(),
	}
	if c.Endpoint == "" {
		c.Endpoint = DefaultEndpoint
	}
	if !envTrue(os.Getenv("HF_HUB_DISABLE_PROGRESS_BARS")) {
		c.Progress = os.Stderr
	}
	return c
}

// OfflineFromEnv reports whether HF_HUB_OFFLINE (or, when that is unset,
// TRANSFORMERS_OFFLINE) is one of 1, ON, YES, TRUE in any case.
func OfflineFromEnv() bool {
	v := os.Getenv("HF_HUB_OFFLINE")
	if v == "" {
		v = os.Getenv("TRANSFORMERS_OFFLINE")
	}
	return envTrue(v)
}

func envTrue(v string) bool {
	switch strings.ToUpper(strings.TrimSpace(v)) {
	case "1", "ON", "YES", "TRUE":
		return true
	}
	return false
}

// HFHome is huggingface_hub's home folder: $HF_HOME, else
// $XDG_CACHE_HOME/huggingface, else ~/.cache/huggingface.
func HFHome() string {
	if h := os.Getenv("HF_HOME"); h != "" {
		return expandPath(h)
	}
	base := os.Getenv("XDG_CACHE_HOME")
	if base == "" {
		base = filepath.Join(homeDir(), ".cache")
	}
	return filepath.Join(expandPath(base), "huggingface")
}

// DefaultCacheDir is the hub cache huggingface_hub uses: $HF_HUB_CACHE, else
// $HUGGINGFACE_HUB_CACHE, else HFHome()/hub.
func DefaultCacheDir() string {
	for _, k := range []string{"HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"} {
		if v := os.Getenv(k); v != "" {
			return expandPath(v)
		}
	}
	return filepath.Join(HFHome(), "hub")
}

func tokenFromEnv() string {
	for _, k := range []string{"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"} {
		if v := strings.TrimSpace(os.Getenv(k)); v != "" {
			return v
		}
	}
	p := os.Getenv("HF_TOKEN_PATH")
	if p == "" {
		p = filepath.Join(HFHome(), "token")
	}
	b, err := os.ReadFile(expandPath(p))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

func homeDir() string {
	if h, err := os.UserHomeDir(); err == nil {
		return h
	}
	return "."
}

// expandPath expands a leading ~ and $VARS, as Python's
// os.path.expandvars(os.path.expanduser(p)).
func expandPath(p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		p = homeDir() + p[1:]
	}
	return os.ExpandEnv(p)
}

func (c *Client) endpoint() string {
	if c.Endpoint == "" {
		return DefaultEndpoint
	}
	return strings.TrimRight(c.Endpoint, "/")
}

func (c *Client) cacheDir() string {
	if c.CacheDir == "" {
		return DefaultCacheDir()
	}
	return c.CacheDir
}

var defaultHTTP = &http.Client{Transport: &http.Transport{
	Proxy:                 http.ProxyFromEnvironment,
	DialContext:           (&net.Dialer{Timeout: 15 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
	TLSHandshakeTimeout:   15 * time.Second,
	ResponseHeaderTimeout: 60 * time.Second,
	IdleConnTimeout:       90 * time.Second,
	MaxIdleConnsPerHost:   4,
	ForceAttemptHTTP2:     true,
}}

func (c *Client) httpClient() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return defaultHTTP
}

func (c *Client) retryDelay(attempt int) time.Duration {
	d := c.retryWait
	if d == 0 {
		d = 500 * time.Millisecond
	}
	for i := 0; i < attempt && d < 8*time.Second; i++ {
		d *= 2
	}
	return d
}

func (c *Client) stall() time.Duration {
	if c.stallTimeout == 0 {
		return 60 * time.Second
	}
	return c.stallTimeout
}

func (c *Client) retries() int {
	if c.maxRetries == 0 {
		return 5
	}
	return c.maxRetries
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
