// Package hubtest runs a local imitation of the Hugging Face Hub for tests:
// the resolve endpoints (HEAD and GET, with the real headers and redirects),
// the revision API, and a separate "CDN" server for LFS files with Range
// support. It can drop or stall connections mid-file, serve corrupt bytes and
// demand a token, and it records every request.
//
// It imitates what huggingface_hub relies on:
//   - GET/HEAD {hub}/[datasets/]ORG/NAME/resolve/REV/PATH
//   - an LFS file: 302 to {cdn}/blobs/SHA256?sig=... with X-Repo-Commit,
//     X-Linked-Etag: "SHA256" and X-Linked-Size (ETag is something else);
//   - a git file: 307 to the relative /api/resolve-cache/... path, which
//     answers with ETag: "GIT-SHA1", X-Repo-Commit and the body;
//   - GET {hub}/api/{models|datasets}/ORG/NAME/revision/REV: {id, sha, siblings};
//   - errors carry X-Error-Code (RepoNotFound, RevisionNotFound,
//     EntryNotFound, GatedRepo) like the Hub.
//
// It never contacts anything but itself.
package hubtest

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// LFSExtensions are the file endings the fake Hub stores in LFS (served from
// the CDN, etag = sha256); every other file is a git blob (etag = git sha1).
var LFSExtensions = []string{".safetensors", ".parquet", ".bin", ".gguf", ".arrow", ".pt"}

// Repo is one repository on the fake Hub.
type Repo struct {
	// Type is "model" or "dataset".
	Type string
	// ID is "ORG/NAME".
	ID string
	// Commit is the 40-hex commit "main" points to.
	Commit string
	// Refs maps other branch or tag names to commits (all serve Files).
	Refs map[string]string
	// Files maps paths in the repository to contents.
	Files map[string][]byte
	// Token, when set, makes the repo gated: requests without
	// "Authorization: Bearer TOKEN" get 401 (no token) or 403 (another one).
	Token string
}

// Request is one request the fake servers received.
type Request struct {
	// Server is "hub" or "cdn".
	Server string
	// Method is the HTTP method.
	Method string
	// Path is the URL path as sent (escaped).
	Path string
	// Range is the Range header, if any.
	Range string
	// Auth is the Authorization header, if any.
	Auth string
}

// Server is a fake Hub plus a fake CDN on another port (so another host as
// far as a client's redirect handling is concerned).
type Server struct {
	// URL is the Hub endpoint, for HF_ENDPOINT or Client.Endpoint.
	URL string
	// CDNURL is the base URL LFS downloads are redirected to.
	CDNURL string

	hub, cdn *httptest.Server

	mu       sync.Mutex
	repos    map[string]*Repo
	blobs    map[string][]byte // sha256 -> content, for the CDN
	drops    map[string]*fault // file path -> drop connection after N bytes
	stalls   map[string]*fault // file path -> stop sending after N bytes, keep the connection
	corrupts map[string]*fault // file path -> serve flipped bytes
	fails    map[string]*fault // file path -> the Hub answers with an HTTP status
	noRange  bool
	requests []Request
}

type fault struct {
	bytes int // for drops: bytes sent before the connection is cut
	times int // how many more responses it applies to; <0: always
}

// New starts the servers; they stop when the test ends.
func New(tb testing.TB) *Server {
	s := &Server{repos: map[string]*Repo{}, blobs: map[string][]byte{},
		drops: map[string]*fault{}, stalls: map[string]*fault{}, corrupts: map[string]*fault{},
		fails: map[string]*fault{}}
	s.hub = httptest.NewServer(http.HandlerFunc(s.serveHub))
	s.cdn = httptest.NewServer(http.HandlerFunc(s.serveCDN))
	s.URL, s.CDNURL = s.hub.URL, s.cdn.URL
	tb.Cleanup(s.Close)
	return s
}

// Close stops both servers (a client then gets connection errors).
func (s *Server) Close() {
	s.hub.CloseClientConnections()
	s.cdn.CloseClientConnections()
	s.hub.Close()
	s.cdn.Close()
}

// AddRepo publishes a repository and returns it. A zero Commit gets one
// derived from the ID.
func (s *Server) AddRepo(r *Repo) *Repo {
	if r.Type == "" {
		r.Type = "model"
	}
	if r.Commit == "" {
		r.Commit = GitBlobSHA1([]byte("commit " + r.Type + r.ID))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.repos[r.Type+":"+r.ID] = r
	for name, b := range r.Files {
		if IsLFS(name) {
			s.blobs[SHA256(b)] = b
		}
	}
	return r
}

// DropAfter makes the next times downloads of file (a path in any repo) cut
// the connection after n bytes of body; times < 0 means always.
func (s *Server) DropAfter(file string, n, times int) {
	s.mu.Lock()
	s.drops[file] = &fault{bytes: n, times: times}
	s.mu.Unlock()
}

// Stall makes the next times downloads of file send n bytes of body and
// then nothing, holding the connection open until the client gives up (at
// most 30 s); times < 0 means always.
func (s *Server) Stall(file string, n, times int) {
	s.mu.Lock()
	s.stalls[file] = &fault{bytes: n, times: times}
	s.mu.Unlock()
}

// Fail makes the next times requests for file on the Hub's resolve
// endpoint answer with status (a 503, say); times < 0 means always.
func (s *Server) Fail(file string, status, times int) {
	s.mu.Lock()
	s.fails[file] = &fault{bytes: status, times: times}
	s.mu.Unlock()
}

// Corrupt makes the next times downloads of file serve flipped bytes (same
// length); times < 0 means always.
func (s *Server) Corrupt(file string, times int) {
	s.mu.Lock()
	s.corrupts[file] = &fault{times: times}
	s.mu.Unlock()
}

// IgnoreRange makes the servers answer every GET with the whole file (200),
// like a server without Range support.
func (s *Server) IgnoreRange(on bool) {
	s.mu.Lock()
	s.noRange = on
	s.mu.Unlock()
}

// Requests returns the requests received so far.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// ResetRequests forgets the recorded requests.
func (s *Server) ResetRequests() {
	s.mu.Lock()
	s.requests = nil
	s.mu.Unlock()
}

// IsLFS reports whether the fake Hub stores name in LFS.
func IsLFS(name string) bool {
	for _, ext := range LFSExtensions {
		if strings.HasSuffix(name, ext) {
			return true
		}
	}
	return false
}

// SHA256 is the hex sha256 of b: an LFS file's etag.
func SHA256(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// GitBlobSHA1 is git's object id of a blob: a git-stored file's etag.
func GitBlobSHA1(b []byte) string {
	h := sha1.New()
	fmt.Fprintf(h, "blob %d\x00", len(b))
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

// Etag is the etag the fake Hub gives a file: what huggingface_hub names its
// blob after.
func Etag(name string, b []byte) string {
	if IsLFS(name) {
		return SHA256(b)
	}
	return GitBlobSHA1(b)
}

func (s *Server) record(server string, r *http.Request) {
	s.mu.Lock()
	s.requests = append(s.requests, Request{Server: server, Method: r.Method, Path: r.URL.EscapedPath(),
		Range: r.Header.Get("Range"), Auth: r.Header.Get("Authorization")})
	s.mu.Unlock()
}

func hubError(w http.ResponseWriter, status int, code, msg string) {
	if code != "" {
		w.Header().Set("X-Error-Code", code)
	}
	w.Header().Set("X-Error-Message", msg)
	http.Error(w, msg, status)
}

// segments splits an escaped path and unescapes each part.
func segments(escaped string) []string {
	parts := strings.Split(strings.Trim(escaped, "/"), "/")
	for i, p := range parts {
		if u, err := url.PathUnescape(p); err == nil {
			parts[i] = u
		}
	}
	return parts
}

// lookup finds a repo and the commit of rev, writing the Hub's error if not.
func (s *Server) lookup(w http.ResponseWriter, r *http.Request, typ, id, rev string) (*Repo, string, bool) {
	s.mu.Lock()
	repo := s.repos[typ+":"+id]
	s.mu.Unlock()
	if repo == nil {
		hubError(w, http.StatusNotFound, "RepoNotFound", "Repository Not Found for url: "+r.URL.String()+".")
		return nil, "", false
	}
	if repo.Token != "" {
		switch auth := r.Header.Get("Authorization"); auth {
		case "Bearer " + repo.Token:
		case "":
			hubError(w, http.StatusUnauthorized, "GatedRepo", "Access to model "+id+" is restricted. You must have access to it and be authenticated to access it. Please log in.")
			return nil, "", false
		default:
			hubError(w, http.StatusForbidden, "GatedRepo", "Access to model "+id+" is restricted and you are not in the authorized list.")
			return nil, "", false
		}
	}
	commit := ""
	switch {
	case rev == "main" || rev == repo.Commit:
		commit = repo.Commit
	case repo.Refs[rev] != "":
		commit = repo.Refs[rev]
	default:
		for _, c := range repo.Refs {
			if rev == c {
				commit = c
			}
		}
	}
	if commit == "" {
		hubError(w, http.StatusNotFound, "RevisionNotFound", "Invalid rev id: "+rev)
		return nil, "", false
	}
	return repo, commit, true
}

func (s *Server) serveHub(w http.ResponseWriter, r *http.Request) {
	s.record("hub", r)
	seg := segments(r.URL.EscapedPath())
	typ := "model"
	switch {
	case len(seg) >= 6 && seg[0] == "api" && (seg[1] == "models" || seg[1] == "datasets") && seg[4] == "revision":
		// /api/{models|datasets}/ORG/NAME/revision/REV
		s.serveInfo(w, r, strings.TrimSuffix(seg[1], "s"), seg[2]+"/"+seg[3], strings.Join(seg[5:], "/"))
		return
	case len(seg) >= 7 && seg[0] == "api" && seg[1] == "resolve-cache":
		// /api/resolve-cache/{models|datasets}/ORG/NAME/COMMIT/PATH
		s.serveFile(w, r, strings.TrimSuffix(seg[2], "s"), seg[3]+"/"+seg[4], seg[5], strings.Join(seg[6:], "/"), true)
		return
	case len(seg) >= 6 && seg[0] == "datasets" && seg[3] == "resolve":
		typ, seg = "dataset", seg[1:]
		fallthrough
	case len(seg) >= 5 && seg[2] == "resolve":
		s.serveFile(w, r, typ, seg[0]+"/"+seg[1], seg[3], strings.Join(seg[4:], "/"), false)
		return
	}
	http.NotFound(w, r)
}

func (s *Server) serveInfo(w http.ResponseWriter, r *http.Request, typ, id, rev string) {
	repo, commit, ok := s.lookup(w, r, typ, id, rev)
	if !ok {
		return
	}
	type lfs struct {
		SHA256 string `json:"sha256"`
		Size   int    `json:"size"`
	}
	type sibling struct {
		RFilename string `json:"rfilename"`
		Size      int    `json:"size,omitempty"`
		BlobID    string `json:"blobId,omitempty"`
		LFS       *lfs   `json:"lfs,omitempty"`
	}
	names := make([]string, 0, len(repo.Files))
	for n := range repo.Files {
		names = append(names, n)
	}
	sort.Strings(names)
	blobs := r.URL.Query().Get("blobs") == "true"
	sibs := make([]sibling, 0, len(names))
	for _, n := range names {
		sb := sibling{RFilename: n}
		if blobs {
			b := repo.Files[n]
			sb.Size, sb.BlobID = len(b), GitBlobSHA1(b)
			if IsLFS(n) {
				sb.LFS = &lfs{SHA256: SHA256(b), Size: len(b)}
			}
		}
		sibs = append(sibs, sb)
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"_id": "fake", "id": repo.ID, "sha": commit,
		"private": false, "gated": repo.Token != "", "siblings": sibs})
}

func (s *Server) serveFile(w http.ResponseWriter, r *http.Request, typ, id, rev, file string, cached bool) {
	s.mu.Lock()
	fail := take(s.fails, file)
	s.mu.Unlock()
	if fail != nil {
		http.Error(w, http.StatusText(fail.bytes), fail.bytes)
		return
	}
	repo, commit, ok := s.lookup(w, r, typ, id, rev)
	if !ok {
		return
	}
	body, found := repo.Files[file]
	w.Header().Set("X-Repo-Commit", commit)
	if !found {
		hubError(w, http.StatusNotFound, "EntryNotFound", fmt.Sprintf("%s does not exist on %q", file, rev))
		return
	}
	if IsLFS(file) {
		sum := SHA256(body)
		w.Header().Set("X-Linked-Etag", `"`+sum+`"`)
		w.Header().Set("X-Linked-Size", strconv.Itoa(len(body)))
		w.Header().Set("ETag", `W/"pointer-file-etag"`)
		w.Header().Set("Location", s.CDNURL+"/blobs/"+sum+"?sig=signed&file="+url.QueryEscape(file))
		w.WriteHeader(http.StatusFound)
		return
	}
	if !cached {
		// The Hub sends git-stored files through a relative redirect.
		prefix := "models"
		if typ == "dataset" {
			prefix = "datasets"
		}
		w.Header().Set("Location", path.Join("/api/resolve-cache", prefix, id, commit, file)+"?etag=x")
		w.WriteHeader(http.StatusTemporaryRedirect)
		return
	}
	w.Header().Set("ETag", `"`+GitBlobSHA1(body)+`"`)
	s.serveBytes(w, r, file, body)
}

func (s *Server) serveCDN(w http.ResponseWriter, r *http.Request) {
	s.record("cdn", r)
	seg := segments(r.URL.EscapedPath())
	if len(seg) != 2 || seg[0] != "blobs" || r.URL.Query().Get("sig") != "signed" {
		http.Error(w, "AccessDenied", http.StatusForbidden)
		return
	}
	s.mu.Lock()
	body, ok := s.blobs[seg[1]]
	s.mu.Unlock()
	if !ok {
		http.Error(w, "NoSuchKey", http.StatusNotFound)
		return
	}
	w.Header().Set("ETag", `"`+seg[1]+`"`)
	s.serveBytes(w, r, r.URL.Query().Get("file"), body)
}

// take consumes one use of a fault.
func take(m map[string]*fault, file string) *fault {
	f := m[file]
	if f == nil || f.times == 0 {
		return nil
	}
	if f.times > 0 {
		f.times--
	}
	return f
}

// serveBytes answers HEAD and GET (with "Range: bytes=N-") and applies the
// faults set for file.
func (s *Server) serveBytes(w http.ResponseWriter, r *http.Request, file string, body []byte) {
	w.Header().Set("Accept-Ranges", "bytes")
	if r.Method == http.MethodHead {
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		return
	}
	s.mu.Lock()
	noRange := s.noRange
	drop := take(s.drops, file)
	stall := take(s.stalls, file)
	corrupt := take(s.corrupts, file)
	s.mu.Unlock()
	if corrupt != nil {
		bad := append([]byte(nil), body...)
		for i := range bad {
			bad[i] ^= 0x5a
		}
		body = bad
	}
	start := 0
	status := http.StatusOK
	if rg := r.Header.Get("Range"); rg != "" && !noRange {
		n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(rg, "bytes="), "-"))
		if err != nil || !strings.HasPrefix(rg, "bytes=") || !strings.HasSuffix(rg, "-") || n < 0 {
			http.Error(w, "bad range", http.StatusBadRequest)
			return
		}
		if n >= len(body) {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", len(body)))
			w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
			return
		}
		start, status = n, http.StatusPartialContent
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", n, len(body)-1, len(body)))
	}
	part := body[start:]
	w.Header().Set("Content-Length", strconv.Itoa(len(part)))
	w.WriteHeader(status)
	if drop != nil && drop.bytes < len(part) {
		w.Write(part[:drop.bytes])
		w.(http.Flusher).Flush()
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			conn.Close()
		}
		return
	}
	if stall != nil && stall.bytes < len(part) {
		w.Write(part[:stall.bytes])
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-time.After(30 * time.Second):
		}
		return
	}
	w.Write(part)
}
