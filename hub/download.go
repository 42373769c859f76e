package hub

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

const userAgent = "latentmas (pure-Go; huggingface_hub-compatible cache)"

// resolveURL is {endpoint}/[datasets/]{repo}/resolve/{revision}/{filename},
// with the revision escaped whole (a branch may contain '/') and the file
// name escaped per segment.
func (c *Client) resolveURL(t target) string {
	segs := strings.Split(t.filename, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	prefix := ""
	if t.repoType == "dataset" {
		prefix = "datasets/"
	}
	return fmt.Sprintf("%s/%s%s/resolve/%s/%s", c.endpoint(), prefix, t.repoID,
		url.PathEscape(t.revision), strings.Join(segs, "/"))
}

func (c *Client) newRequest(ctx context.Context, method, u string, auth bool) (*http.Request, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("User-Agent", userAgent)
	if auth && c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	return req, nil
}

// fileMeta is what a HEAD on the resolve endpoint says about a file.
type fileMeta struct {
	commit   string
	etag     string // normalised: no W/ prefix, no quotes
	size     int64  // -1 when unknown
	location string // where to GET it (a CDN for LFS files)
	auth     bool   // whether location is on the Hub's host (send the token)
}

// normalizeEtag strips a weak-validator prefix and quotes, as huggingface_hub.
func normalizeEtag(e string) string {
	e = strings.TrimPrefix(strings.TrimSpace(e), "W/")
	return strings.Trim(e, `"`)
}

// fileMetadata HEADs the resolve URL, following only same-host (relative)
// redirects, like huggingface_hub: a redirect to another host is the CDN
// location of an LFS file and its headers already carry the metadata.
func (c *Client) fileMetadata(ctx context.Context, t target) (*fileMeta, error) {
	start := c.resolveURL(t)
	base := c.httpClient()
	noFollow := *base
	noFollow.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	cur := start
	for hops := 0; ; hops++ {
		if hops > 10 {
			return nil, &hubError{kind: ErrNetwork, msg: fmt.Sprintf("hub: %s: too many redirects from %s", t, start)}
		}
		req, err := c.newRequest(ctx, http.MethodHead, cur, true)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Accept-Encoding", "identity")
		resp, err := noFollow.Do(req)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, c.networkError(err, t)
		}
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		if resp.StatusCode >= 300 && resp.StatusCode < 400 && loc != "" {
			lu, err := url.Parse(loc)
			if err != nil {
				return nil, &hubError{kind: ErrNetwork, msg: fmt.Sprintf("hub: %s: bad redirect %q", t, loc)}
			}
			if lu.Host == "" { // relative: a renamed repo or the resolve cache; follow it
				cur = resp.Request.URL.ResolveReference(lu).String()
				continue
			}
		} else if resp.StatusCode >= 400 {
			return nil, c.statusError(resp, t)
		} else {
			loc = cur
		}
		return c.parseMeta(resp, t, start, loc)
	}
}

func (c *Client) parseMeta(resp *http.Response, t target, start, loc string) (*fileMeta, error) {
	m := &fileMeta{
		commit:   resp.Header.Get("X-Repo-Commit"),
		etag:     normalizeEtag(firstHeader(resp.Header, "X-Linked-Etag", "ETag")),
		size:     -1,
		location: loc,
	}
	if s := firstHeader(resp.Header, "X-Linked-Size", "Content-Length"); s != "" {
		if n, err := strconv.ParseInt(s, 10, 64); err == nil && n >= 0 {
			m.size = n
		}
	}
	if m.commit == "" {
		return nil, &hubError{kind: ErrNetwork, msg: fmt.Sprintf(
			"hub: %s: the answer from %s has no X-Repo-Commit header: is HF_ENDPOINT (%s) a Hugging Face Hub, and no proxy in the way?",
			t, resp.Request.URL.Redacted(), c.endpoint())}
	}
	if !commitRE.MatchString(m.commit) {
		return nil, &hubError{kind: ErrNetwork, msg: fmt.Sprintf("hub: %s: bad X-Repo-Commit %q", t, m.commit)}
	}
	if m.etag == "" || !safeEtag.MatchString(m.etag) {
		return nil, &hubError{kind: ErrNetwork, msg: fmt.Sprintf(
			"hub: %s: %s has no usable ETag (%q), so its download cannot be verified", t, t.filename, m.etag)}
	}
	su, _ := url.Parse(start)
	lu, _ := url.Parse(loc)
	m.auth = su != nil && lu != nil && su.Host == lu.Host
	return m, nil
}

func firstHeader(h http.Header, keys ...string) string {
	for _, k := range keys {
		if v := h.Get(k); v != "" {
			return v
		}
	}
	return ""
}

// DownloadFile returns the cached path of one file of a repository
// (repoType "model" or "dataset"; revision "" means "main"), downloading it
// into the cache first if needed. The path is the snapshot entry
// snapshots/COMMIT/FILENAME, a symlink into blobs/. A commit-hash revision
// already cached is answered without network; otherwise the Hub is asked for
// the file's current commit and etag. When the Hub cannot be reached (or
// refuses access) a cached copy for that revision is used if there is one;
// in offline mode only the cache is consulted.
func (c *Client) DownloadFile(ctx context.Context, repoType, repoID, revision, filename string) (string, error) {
	if revision == "" {
		revision = "main"
	}
	if err := checkRepo(repoType, repoID); err != nil {
		return "", err
	}
	if err := checkFilename(filename); err != nil {
		return "", err
	}
	t := target{repoType, repoID, revision, filename}
	storage := c.storageFolder(repoType, repoID)
	rel := filepath.FromSlash(filename)
	if commitRE.MatchString(revision) {
		if p := filepath.Join(storage, "snapshots", revision, rel); exists(p) {
			return p, nil
		}
	}
	cached := func() string {
		if dir := cachedSnapshotDir(storage, revision); dir != "" && exists(filepath.Join(dir, rel)) {
			return filepath.Join(dir, rel)
		}
		return ""
	}
	if c.Offline {
		if p := cached(); p != "" {
			return p, nil
		}
		return "", c.offlineError(t, storage, "")
	}
	meta, err := c.fileMetadata(ctx, t)
	for try := 0; err != nil && retryableStatus(err) && try < 2; try++ {
		if serr := sleep(ctx, c.retryDelay(try)); serr != nil {
			return "", serr
		}
		meta, err = c.fileMetadata(ctx, t)
	}
	if err != nil {
		if fallbackToCache(err) {
			if p := cached(); p != "" {
				c.notef("hub: %v\nhub: using the cached %s", err, p)
				return p, nil
			}
		}
		return "", err
	}
	return c.fetch(ctx, t, meta)
}

// fetch puts the blob meta describes into the cache (unless it is there) and
// links it from the snapshot.
func (c *Client) fetch(ctx context.Context, t target, meta *fileMeta) (string, error) {
	storage := c.storageFolder(t.repoType, t.repoID)
	blob := filepath.Join(storage, "blobs", meta.etag)
	pointer := filepath.Join(storage, "snapshots", meta.commit, filepath.FromSlash(t.filename))
	if err := os.MkdirAll(filepath.Dir(blob), 0o755); err != nil {
		return "", err
	}
	if err := writeRef(storage, t.revision, meta.commit); err != nil {
		return "", err
	}
	if exists(pointer) {
		return pointer, nil
	}
	lockDir := filepath.Join(c.cacheDir(), ".locks", RepoFolderName(t.repoType, t.repoID))
	if err := os.MkdirAll(lockDir, 0o755); err != nil {
		return "", err
	}
	unlock, err := lockFile(ctx, filepath.Join(lockDir, meta.etag+".lock"), func() {
		c.notef("hub: waiting for another download of %s to finish", t.filename)
	})
	if err != nil {
		return "", err
	}
	defer unlock()
	if !exists(blob) {
		if err := c.fetchBlob(ctx, t, meta, blob); err != nil {
			return "", err
		}
	}
	if err := linkPointer(blob, pointer); err != nil {
		return "", err
	}
	return pointer, nil
}

// fetchBlob downloads into blob.incomplete (resuming what is there), checks
// it and renames it to blob. A file that fails the check is deleted and
// downloaded once more from scratch before giving up.
func (c *Client) fetchBlob(ctx context.Context, t target, meta *fileMeta, blob string) error {
	inc := blob + ".incomplete"
	var bad error
	for try := 0; try < 2; try++ {
		if err := c.transfer(ctx, t, meta, inc); err != nil {
			return err
		}
		if bad = verifyFile(inc, meta); bad == nil {
			return os.Rename(inc, blob)
		}
		os.Remove(inc)
		if try == 0 {
			c.notef("hub: %s: %v; downloading it again", t.filename, bad)
		}
	}
	return &hubError{kind: ErrChecksum, msg: fmt.Sprintf(
		"hub: %s from %s failed verification twice (%v); the download was deleted. "+
			"Try again later; if it persists, the copy served by %s (or a proxy) is corrupt",
		t.filename, t, bad, hostOf(meta.location))}
}

func hostOf(u string) string {
	if p, err := url.Parse(u); err == nil && p.Host != "" {
		return p.Host
	}
	return u
}

// hasherFor picks the check an etag allows: sha256 for LFS files (64 hex
// digits), git's blob sha1 ("blob SIZE\x00" + content) for files stored in
// git (40 hex digits, size needed); nil when the etag is neither.
func hasherFor(meta *fileMeta) hash.Hash {
	switch {
	case sha256RE.MatchString(meta.etag):
		return sha256.New()
	case commitRE.MatchString(meta.etag) && meta.size >= 0:
		h := sha1.New()
		fmt.Fprintf(h, "blob %d\x00", meta.size)
		return h
	}
	return nil
}

// verifyFile checks a finished download against the size and etag.
func verifyFile(p string, meta *fileMeta) error {
	f, err := os.Open(p)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if meta.size >= 0 && fi.Size() != meta.size {
		return fmt.Errorf("size %d, expected %d", fi.Size(), meta.size)
	}
	h := hasherFor(meta)
	if h == nil {
		return nil
	}
	if _, err := io.Copy(h, f); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != meta.etag {
		kind := "sha256"
		if len(meta.etag) == 40 {
			kind = "git sha1"
		}
		return fmt.Errorf("%s %s, expected %s", kind, got, meta.etag)
	}
	return nil
}

var errStalled = errors.New("no data received for too long")

// retryableStatus reports an HTTP answer worth asking again (5xx, 429).
func retryableStatus(err error) bool {
	var he *hubError
	return errors.As(err, &he) && he.retry
}

// retryable reports whether a failed transfer is worth resuming.
func retryable(err error) bool {
	var he *hubError
	if errors.As(err, &he) {
		return he.retry
	}
	var we *writeError
	return !errors.As(err, &we)
}

type writeError struct{ err error }

func (e *writeError) Error() string { return "writing the download: " + e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }

// transfer brings inc up to meta.size bytes, resuming from what inc already
// holds with "Range: bytes=N-". A dropped or stalled connection, or a 5xx
// answer, is retried with backoff: at most retries() times in a row without
// progress and 10*retries() attempts in all; the partial file stays for the
// next run to resume. It does not verify the result.
func (c *Client) transfer(ctx context.Context, t target, meta *fileMeta, inc string) (err error) {
	f, err := os.OpenFile(inc, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	off, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	if meta.size >= 0 && off > meta.size {
		if err := truncate(f); err != nil {
			return err
		}
		off = 0
	}
	if off > 0 {
		c.notef("hub: resuming %s at %s", t.filename, humanBytes(off))
	}
	b := c.newBar(t.filename, meta.size, off)
	defer func() { b.finish(err == nil) }()
	failures, attempts := 0, 0
	for meta.size < 0 || off < meta.size {
		attempts++
		n, restarted, err := c.getOnce(ctx, t, meta, f, off, b)
		if restarted {
			off = 0
		}
		off += n
		if err == nil {
			if meta.size < 0 || off >= meta.size {
				return nil
			}
			err = io.ErrUnexpectedEOF // a clean end before all the bytes
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if !retryable(err) {
			return err
		}
		if n > 0 {
			failures = 0
		}
		failures++
		if failures > c.retries() || attempts >= 10*c.retries() {
			return &hubError{kind: ErrNetwork, cause: err, msg: fmt.Sprintf(
				"hub: downloading %s from %s failed %d times (%v); "+
					"run the command again to resume from %s, or work offline with HF_HUB_OFFLINE=1 and a local model directory",
				t.filename, hostOf(meta.location), attempts, err, humanBytes(off))}
		}
		c.notef("hub: %s: %v; resuming at %s", t.filename, err, humanBytes(off))
		if err := sleep(ctx, c.retryDelay(failures-1)); err != nil {
			return err
		}
	}
	return nil
}

func truncate(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err := f.Seek(0, io.SeekStart)
	return err
}

// getOnce makes one GET from offset off and appends the body to f. It
// returns the bytes appended, whether the file was first emptied (the server
// ignored the Range and sent it all), and why the body ended (nil: cleanly).
func (c *Client) getOnce(ctx context.Context, t target, meta *fileMeta, f *os.File, off int64, b *bar) (int64, bool, error) {
	rctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	req, err := c.newRequest(rctx, http.MethodGet, meta.location, meta.auth)
	if err != nil {
		return 0, false, err
	}
	req.Header.Set("Accept-Encoding", "identity")
	if off > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", off))
	}
	watchdog := time.AfterFunc(c.stall(), func() { cancel(errStalled) })
	defer watchdog.Stop()
	resp, err := c.httpClient().Do(req)
	if err != nil {
		return 0, false, stallCause(rctx, err)
	}
	defer resp.Body.Close()
	restarted := false
	switch {
	case resp.StatusCode == http.StatusPartialContent && off > 0:
		if !strings.HasPrefix(resp.Header.Get("Content-Range"), fmt.Sprintf("bytes %d-", off)) {
			return 0, false, fmt.Errorf("server answered Range bytes=%d- with Content-Range %q",
				off, resp.Header.Get("Content-Range"))
		}
	case resp.StatusCode == http.StatusOK:
		if off > 0 {
			if err := truncate(f); err != nil {
				return 0, false, &writeError{err}
			}
			restarted = true
			b.restart()
		}
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable:
		// What we hold is not a prefix of this file: start over.
		if err := truncate(f); err != nil {
			return 0, false, &writeError{err}
		}
		b.restart()
		return 0, true, errors.New("server refused to resume (HTTP 416); starting over")
	case meta.auth:
		return 0, false, c.statusError(resp, t)
	default: // the CDN: its signed URL may have expired; a new run asks the Hub again
		return 0, false, &hubError{kind: ErrNetwork, retry: resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests,
			msg: fmt.Sprintf("hub: downloading %s from %s: HTTP %d %s; run the command again to resume",
				t.filename, hostOf(meta.location), resp.StatusCode, http.StatusText(resp.StatusCode))}
	}
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		return 0, restarted, &writeError{err}
	}
	buf := make([]byte, 1<<20)
	var n int64
	for {
		k, rerr := resp.Body.Read(buf)
		if k > 0 {
			watchdog.Reset(c.stall())
			if _, werr := f.Write(buf[:k]); werr != nil {
				return n, restarted, &writeError{werr}
			}
			n += int64(k)
			b.add(int64(k))
		}
		if rerr == io.EOF {
			return n, restarted, nil
		}
		if rerr != nil {
			return n, restarted, stallCause(rctx, rerr)
		}
	}
}

// stallCause names a stall as such instead of "context canceled".
func stallCause(ctx context.Context, err error) error {
	if context.Cause(ctx) == errStalled {
		return errStalled
	}
	return err
}
