package hub

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
)

// Errors returned by this package wrap one of these, for errors.Is; their
// messages say what happened and what to do about it.
var (
	// ErrGated: the Hub refused access (HTTP 401/403): the repository is gated
	// or private and the token is missing or lacks access.
	ErrGated = errors.New("gated or private repository")
	// ErrNotFound: the repository, revision or file does not exist (HTTP 404).
	ErrNotFound = errors.New("not found on the Hub")
	// ErrOffline: offline mode is on and what was asked for is not cached.
	ErrOffline = errors.New("not in the cache and offline mode is on")
	// ErrNetwork: the Hub could not be reached, or a transfer kept failing.
	ErrNetwork = errors.New("network error")
	// ErrChecksum: a downloaded file did not match its size or hash twice.
	ErrChecksum = errors.New("checksum mismatch")
)

// hubError carries a full message plus a sentinel kind and the cause.
type hubError struct {
	kind  error
	msg   string
	cause error
	retry bool // worth retrying (5xx, 429)
}

func (e *hubError) Error() string { return e.msg }

func (e *hubError) Unwrap() []error {
	out := []error{e.kind}
	if e.cause != nil {
		out = append(out, e.cause)
	}
	return out
}

// target names what a request was about, for messages.
type target struct {
	repoType, repoID, revision, filename string
}

func (t target) String() string {
	s := t.repoID
	if t.repoType == "dataset" {
		s = "dataset " + s
	}
	return s
}

// repoPage is the repository's page on the Hub, where a gated model's license
// is accepted.
func (c *Client) repoPage(t target) string {
	if t.repoType == "dataset" {
		return c.endpoint() + "/datasets/" + t.repoID
	}
	return c.endpoint() + "/" + t.repoID
}

// statusError turns an HTTP error response from the Hub into a message that
// says what to do. The Hub names the failure in X-Error-Code.
func (c *Client) statusError(resp *http.Response, t target) error {
	code := resp.Header.Get("X-Error-Code")
	detail := strings.TrimSpace(resp.Header.Get("X-Error-Message"))
	status := resp.StatusCode
	suffix := ""
	if detail != "" {
		suffix = " (the Hub says: " + detail + ")"
	}
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden || code == "GatedRepo":
		hint := "set HF_TOKEN"
		if c.Token != "" {
			hint = "make sure HF_TOKEN belongs to an account with access (a token was sent and refused)"
		}
		exists := ""
		if code == "RepoNotFound" {
			exists = ", or does not exist"
		}
		return &hubError{kind: ErrGated, msg: fmt.Sprintf(
			"hub: %s is gated or private%s (HTTP %d): accept the license at %s and %s%s",
			t, exists, status, c.repoPage(t), hint, suffix)}
	case status == http.StatusNotFound:
		var msg string
		switch {
		case code == "RevisionNotFound":
			msg = fmt.Sprintf("hub: revision %q not found in %s (HTTP 404)", t.revision, t)
		case code == "RepoNotFound" || t.filename == "":
			msg = fmt.Sprintf("hub: repository %s not found at %s (HTTP 404): check the name", t, c.endpoint())
		default:
			msg = fmt.Sprintf("hub: file %q not found in %s at revision %s (HTTP 404)", t.filename, t, t.revision)
		}
		return &hubError{kind: ErrNotFound, msg: msg + suffix}
	default:
		return &hubError{kind: ErrNetwork, retry: status >= 500 || status == http.StatusTooManyRequests,
			msg: fmt.Sprintf("hub: %s: HTTP %d %s from %s%s", t, status,
				http.StatusText(status), resp.Request.URL.Redacted(), suffix)}
	}
}

// networkError wraps a failure to talk to the Hub at all.
func (c *Client) networkError(err error, t target) error {
	return &hubError{kind: ErrNetwork, cause: err, msg: fmt.Sprintf(
		"hub: cannot reach %s for %s: %v\n"+
			"  check the connection (and HF_ENDPOINT), or work offline: set HF_HUB_OFFLINE=1 and use a cached model or a local model directory",
		c.endpoint(), t, err)}
}

// offlineError says where the cache was searched and how to fill it.
func (c *Client) offlineError(t target, looked, missing string) error {
	what := t.repoID
	if t.revision != "" && t.revision != "main" {
		what += "@" + t.revision
	}
	pull := "latentmas pull " + what
	if t.repoType == "dataset" {
		pull += " --repo-type dataset"
	}
	state := "is not in the Hugging Face cache"
	if missing != "" {
		state = "is only partly in the Hugging Face cache (missing " + missing + ")"
	}
	return &hubError{kind: ErrOffline, msg: fmt.Sprintf(
		"hub: %s %s (looked in %s) and offline mode is on (--offline or HF_HUB_OFFLINE=1): "+
			"run `%s` with network access, or use a local directory",
		t, state, looked, pull)}
}

// fallbackToCache reports whether a failed Hub request may be answered from
// the cache instead, as huggingface_hub does: network failures, server errors
// and refused access, but not "this does not exist".
func fallbackToCache(err error) bool {
	return errors.Is(err, ErrNetwork) || errors.Is(err, ErrGated)
}
