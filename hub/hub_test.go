package hub

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/latentmas/latentmas/hub/hubtest"
)

const (
	shard1 = "model-00001-of-00002.safetensors"
	shard2 = "model-00002-of-00002.safetensors"
)

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// modelFiles is a small sharded "checkpoint" with the files a Qwen repo has.
func modelFiles() map[string][]byte {
	return map[string][]byte{
		"config.json":                  []byte(`{"model_type":"qwen3","hidden_size":8}`),
		"generation_config.json":       []byte(`{"do_sample":true}`),
		"tokenizer.json":               []byte(`{"version":"1.0","model":{"type":"BPE"}}`),
		"tokenizer_config.json":        []byte(`{"chat_template":"{{ messages }}"}`),
		"model.safetensors.index.json": []byte(`{"metadata":{},"weight_map":{"a.weight":"` + shard1 + `","b.weight":"` + shard2 + `"}}`),
		shard1:                         randomBytes(300_000, 1),
		shard2:                         randomBytes(123_457, 2),
		"README.md":                    []byte("# Tiny\n"),
		".gitattributes":               []byte("*.safetensors filter=lfs\n"),
		"onnx/model.onnx.json":         []byte(`{}`),
	}
}

var pulledByDefault = []string{"config.json", "generation_config.json", "tokenizer.json",
	"tokenizer_config.json", "model.safetensors.index.json", shard1, shard2}

func newTestClient(t *testing.T, srv *hubtest.Server) *Client {
	t.Helper()
	return &Client{Endpoint: srv.URL, CacheDir: t.TempDir(), retryWait: time.Millisecond,
		stallTimeout: 5 * time.Second, maxRetries: 3}
}

func setup(t *testing.T) (*hubtest.Server, *hubtest.Repo, *Client) {
	t.Helper()
	srv := hubtest.New(t)
	repo := srv.AddRepo(&hubtest.Repo{ID: "Qwen/Tiny", Files: modelFiles(),
		Refs: map[string]string{"v1": hubtest.GitBlobSHA1([]byte("v1")), "refs/pr/1": hubtest.GitBlobSHA1([]byte("pr1"))}})
	return srv, repo, newTestClient(t, srv)
}

func cdnGets(srv *hubtest.Server) []hubtest.Request {
	var out []hubtest.Request
	for _, r := range srv.Requests() {
		if r.Server == "cdn" && r.Method == "GET" {
			out = append(out, r)
		}
	}
	return out
}

func ranges(reqs []hubtest.Request) []string {
	out := []string{}
	for _, r := range reqs {
		out = append(out, r.Range)
	}
	return out
}

func readFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkLayout asserts that dir is a huggingface_hub snapshot holding files:
// each a relative symlink to ../(..)/blobs/ETAG whose content is right.
func checkLayout(t *testing.T, cache, folder, commit, dir string, files map[string][]byte, names []string) {
	t.Helper()
	storage := filepath.Join(cache, folder)
	if want := filepath.Join(storage, "snapshots", commit); dir != want {
		t.Fatalf("snapshot dir %s, want %s", dir, want)
	}
	for _, name := range names {
		p := filepath.Join(dir, filepath.FromSlash(name))
		fi, err := os.Lstat(p)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			t.Errorf("%s is not a symlink", name)
			continue
		}
		link, _ := os.Readlink(p)
		etag := hubtest.Etag(name, files[name])
		up := strings.Repeat("../", strings.Count(name, "/")+2)
		if want := up + "blobs/" + etag; link != want {
			t.Errorf("%s -> %s, want %s", name, link, want)
		}
		if got := readFile(t, filepath.Join(storage, "blobs", etag)); !bytes.Equal(got, files[name]) {
			t.Errorf("blob of %s differs", name)
		}
		if got := readFile(t, p); !bytes.Equal(got, files[name]) {
			t.Errorf("%s: content differs", name)
		}
	}
	left, _ := filepath.Glob(filepath.Join(storage, "blobs", "*.incomplete"))
	if len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
}

func TestPullFreshDownloadLayout(t *testing.T) {
	srv, repo, c := setup(t)
	c.Token = "hf_secret"
	dir, err := c.Pull(context.Background(), "Qwen/Tiny", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	checkLayout(t, c.CacheDir, "models--Qwen--Tiny", repo.Commit, dir, repo.Files, pulledByDefault)
	if got := string(readFile(t, filepath.Join(c.CacheDir, "models--Qwen--Tiny", "refs", "main"))); got != repo.Commit {
		t.Errorf("refs/main = %q, want %q (no newline)", got, repo.Commit)
	}
	for _, skipped := range []string{"README.md", ".gitattributes", "onnx"} {
		if _, err := os.Lstat(filepath.Join(dir, skipped)); !os.IsNotExist(err) {
			t.Errorf("%s was pulled but matches no default pattern", skipped)
		}
	}
	if m := MissingModelFiles(dir); len(m) > 0 {
		t.Errorf("MissingModelFiles = %v", m)
	}
	if _, err := os.Stat(filepath.Join(c.CacheDir, ".locks", "models--Qwen--Tiny")); err != nil {
		t.Errorf("no lock folder: %v", err)
	}
	for _, r := range srv.Requests() {
		switch {
		case r.Server == "hub" && r.Auth != "Bearer hf_secret":
			t.Errorf("hub request %s %s without the token", r.Method, r.Path)
		case r.Server == "cdn" && r.Auth != "":
			t.Errorf("token sent to the CDN: %s %s", r.Method, r.Path)
		case r.Server == "hub" && strings.Contains(r.Path, "/resolve/") && !strings.Contains(r.Path, "/resolve/"+repo.Commit+"/"):
			t.Errorf("file resolved by branch, not by commit: %s", r.Path)
		}
	}
	if n := len(cdnGets(srv)); n != 2 {
		t.Errorf("%d CDN downloads, want 2 (one per shard)", n)
	}
}

func TestPullAgainUsesCache(t *testing.T) {
	srv, repo, c := setup(t)
	ctx := context.Background()
	dir, err := c.Pull(ctx, "Qwen/Tiny", "main", nil)
	if err != nil {
		t.Fatal(err)
	}
	srv.ResetRequests()
	dir2, err := c.Pull(ctx, "Qwen/Tiny", "main", nil)
	if err != nil || dir2 != dir {
		t.Fatalf("second pull: %s, %v", dir2, err)
	}
	reqs := srv.Requests()
	if len(reqs) != 1 || !strings.HasPrefix(reqs[0].Path, "/api/models/Qwen/Tiny/revision/main") {
		t.Errorf("second pull made %v, want only the revision API call", reqs)
	}
	srv.ResetRequests()
	got, err := c.ResolveModel(ctx, "Qwen/Tiny")
	if err != nil || got != dir {
		t.Fatalf("ResolveModel = %s, %v; want %s", got, err, dir)
	}
	if reqs := srv.Requests(); len(reqs) != 0 {
		t.Errorf("ResolveModel of a complete cached model made requests: %v", reqs)
	}
	// A deleted blob is noticed (the snapshot link dangles) and fetched again.
	os.Remove(filepath.Join(c.CacheDir, "models--Qwen--Tiny", "blobs", hubtest.SHA256(repo.Files[shard2])))
	if _, err := c.ResolveModel(ctx, "Qwen/Tiny"); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(readFile(t, filepath.Join(dir, shard2)), repo.Files[shard2]) {
		t.Error("deleted blob not restored")
	}
}

func TestPullRevisions(t *testing.T) {
	srv, repo, _ := setup(t)
	for _, tc := range []struct {
		rev, commit, ref string // ref: file under refs/ that must hold commit ("" none)
	}{
		{"main", repo.Commit, "main"},
		{"v1", repo.Refs["v1"], "v1"},
		{"refs/pr/1", repo.Refs["refs/pr/1"], "refs/pr/1"},
		{repo.Refs["v1"], repo.Refs["v1"], ""},
	} {
		t.Run(tc.rev, func(t *testing.T) {
			c := newTestClient(t, srv)
			dir, err := c.Pull(context.Background(), "Qwen/Tiny", tc.rev, []string{"*.json"})
			if err != nil {
				t.Fatal(err)
			}
			storage := filepath.Join(c.CacheDir, "models--Qwen--Tiny")
			checkLayout(t, c.CacheDir, "models--Qwen--Tiny", tc.commit, dir, repo.Files,
				[]string{"config.json", "onnx/model.onnx.json"})
			refs, _ := filepath.Glob(filepath.Join(storage, "refs", "*"))
			if tc.ref == "" {
				if len(refs) > 0 {
					t.Errorf("pull by commit wrote refs %v", refs)
				}
				return
			}
			if got := string(readFile(t, filepath.Join(storage, "refs", filepath.FromSlash(tc.ref)))); got != tc.commit {
				t.Errorf("refs/%s = %q, want %q", tc.ref, got, tc.commit)
			}
		})
	}
}

func TestResumeAfterDroppedConnection(t *testing.T) {
	content := modelFiles()[shard1]
	for _, tc := range []struct {
		name       string
		prepare    func(srv *hubtest.Server, incomplete string, c *Client)
		wantRanges []string
	}{
		{"dropped twice mid-file",
			func(srv *hubtest.Server, _ string, _ *Client) { srv.DropAfter(shard1, 100_000, 2) },
			[]string{"", "bytes=100000-", "bytes=200000-"}},
		{"partial file from an earlier run",
			func(_ *hubtest.Server, inc string, _ *Client) { os.WriteFile(inc, content[:1234], 0o644) },
			[]string{"bytes=1234-"}},
		{"server ignores Range after a drop",
			func(srv *hubtest.Server, _ string, _ *Client) { srv.DropAfter(shard1, 5000, 1); srv.IgnoreRange(true) },
			[]string{"", "bytes=5000-"}},
		{"stale partial file with wrong bytes is refetched whole",
			func(_ *hubtest.Server, inc string, _ *Client) { os.WriteFile(inc, randomBytes(1000, 99), 0o644) },
			[]string{"bytes=1000-", ""}},
		{"stalled mid-file",
			func(srv *hubtest.Server, _ string, c *Client) {
				srv.Stall(shard1, 7000, 1)
				c.stallTimeout = 200 * time.Millisecond
			},
			[]string{"", "bytes=7000-"}},
		{"partial file longer than the file",
			func(_ *hubtest.Server, inc string, _ *Client) {
				os.WriteFile(inc, randomBytes(len(content)+5, 3), 0o644)
			},
			[]string{""}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, repo, c := setup(t)
			blobs := filepath.Join(c.CacheDir, "models--Qwen--Tiny", "blobs")
			os.MkdirAll(blobs, 0o755)
			tc.prepare(srv, filepath.Join(blobs, hubtest.SHA256(content)+".incomplete"), c)
			p, err := c.DownloadFile(context.Background(), "model", "Qwen/Tiny", "main", shard1)
			if err != nil {
				t.Fatal(err)
			}
			checkLayout(t, c.CacheDir, "models--Qwen--Tiny", repo.Commit, filepath.Dir(p), repo.Files, []string{shard1})
			if got := ranges(cdnGets(srv)); !slices.Equal(got, tc.wantRanges) {
				t.Errorf("CDN GET ranges %q, want %q", got, tc.wantRanges)
			}
		})
	}
}

func TestResumeAcrossRuns(t *testing.T) {
	srv, repo, c := setup(t)
	ctx := context.Background()
	srv.DropAfter(shard1, 0, -1) // no progress at all: give up after maxRetries
	_, err := c.DownloadFile(ctx, "model", "Qwen/Tiny", "main", shard1)
	if !errors.Is(err, ErrNetwork) || !strings.Contains(err.Error(), "run the command again to resume") {
		t.Fatalf("err = %v, want ErrNetwork saying how to resume", err)
	}
	if n := len(cdnGets(srv)); n != c.maxRetries+1 {
		t.Errorf("%d attempts, want %d", n, c.maxRetries+1)
	}
	srv.DropAfter(shard1, 5000, -1) // progress every time, but never done: bounded attempts
	_, err = c.DownloadFile(ctx, "model", "Qwen/Tiny", "main", shard1)
	if !errors.Is(err, ErrNetwork) {
		t.Fatalf("err = %v, want ErrNetwork", err)
	}
	pointer := filepath.Join(c.CacheDir, "models--Qwen--Tiny", "snapshots", repo.Commit, shard1)
	if _, err := os.Lstat(pointer); !os.IsNotExist(err) {
		t.Errorf("failed download left a snapshot entry: %v", err)
	}
	inc := filepath.Join(c.CacheDir, "models--Qwen--Tiny", "blobs", hubtest.SHA256(repo.Files[shard1])+".incomplete")
	fi, err := os.Stat(inc)
	if err != nil || fi.Size() == 0 || fi.Size()%5000 != 0 {
		t.Fatalf("incomplete file: %v, %v", fi, err)
	}
	srv.DropAfter(shard1, 0, 0)
	srv.ResetRequests()
	if _, err := c.DownloadFile(ctx, "model", "Qwen/Tiny", "main", shard1); err != nil {
		t.Fatal(err)
	}
	want := []string{fmt.Sprintf("bytes=%d-", fi.Size())}
	if got := ranges(cdnGets(srv)); !slices.Equal(got, want) {
		t.Errorf("next run's ranges %q, want %q", got, want)
	}
	checkLayout(t, c.CacheDir, "models--Qwen--Tiny", repo.Commit, filepath.Dir(pointer), repo.Files, []string{shard1})
}

func TestChecksumMismatch(t *testing.T) {
	for _, tc := range []struct {
		file    string
		times   int
		wantErr string // "" = success after a refetch
	}{
		{shard1, 1, ""},
		{"tokenizer.json", 1, ""},
		{shard1, -1, "sha256"},
		{"tokenizer.json", -1, "git sha1"},
	} {
		t.Run(fmt.Sprintf("%s/%d", tc.file, tc.times), func(t *testing.T) {
			srv, repo, c := setup(t)
			srv.Corrupt(tc.file, tc.times)
			p, err := c.DownloadFile(context.Background(), "model", "Qwen/Tiny", "main", tc.file)
			gets := 0
			for _, r := range srv.Requests() {
				if r.Method == "GET" {
					gets++
				}
			}
			if gets != 2 {
				t.Errorf("%d GETs, want 2 (the first fails verification)", gets)
			}
			storage := filepath.Join(c.CacheDir, "models--Qwen--Tiny")
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				checkLayout(t, c.CacheDir, "models--Qwen--Tiny", repo.Commit, filepath.Dir(p), repo.Files, []string{tc.file})
				return
			}
			if !errors.Is(err, ErrChecksum) || !strings.Contains(err.Error(), tc.wantErr) ||
				!strings.Contains(err.Error(), "failed verification twice") {
				t.Fatalf("err = %v, want ErrChecksum mentioning %s", err, tc.wantErr)
			}
			if _, err := os.Lstat(filepath.Join(storage, "snapshots", repo.Commit, tc.file)); !os.IsNotExist(err) {
				t.Errorf("corrupt file reached the snapshot: %v", err)
			}
			if left, _ := os.ReadDir(filepath.Join(storage, "blobs")); len(left) > 0 {
				t.Errorf("blobs left: %v", left)
			}
		})
	}
}

func TestOffline(t *testing.T) {
	srv, _, online := setup(t)
	ctx := context.Background()
	dir, err := online.Pull(ctx, "Qwen/Tiny", "", nil)
	if err != nil {
		t.Fatal(err)
	}
	srv.AddRepo(&hubtest.Repo{ID: "Qwen/Other", Files: modelFiles()})
	off := &Client{Endpoint: srv.URL, CacheDir: online.CacheDir, Offline: true}
	srv.ResetRequests()

	t.Run("cached", func(t *testing.T) {
		if got, err := off.ResolveModel(ctx, "Qwen/Tiny"); err != nil || got != dir {
			t.Errorf("ResolveModel = %s, %v", got, err)
		}
		if got, err := off.Pull(ctx, "Qwen/Tiny", "main", nil); err != nil || got != dir {
			t.Errorf("Pull = %s, %v", got, err)
		}
		if got, err := off.DownloadFile(ctx, "model", "Qwen/Tiny", "", "config.json"); err != nil || got != filepath.Join(dir, "config.json") {
			t.Errorf("DownloadFile = %s, %v", got, err)
		}
	})
	t.Run("not cached", func(t *testing.T) {
		for name, call := range map[string]func() error{
			"ResolveModel": func() error { _, err := off.ResolveModel(ctx, "Qwen/Other"); return err },
			"Pull":         func() error { _, err := off.Pull(ctx, "Qwen/Other", "", nil); return err },
			"DownloadFile": func() error {
				_, err := off.DownloadFile(ctx, "model", "Qwen/Other", "main", "config.json")
				return err
			},
		} {
			err := call()
			if !errors.Is(err, ErrOffline) {
				t.Fatalf("%s: err = %v, want ErrOffline", name, err)
			}
			for _, want := range []string{"latentmas pull Qwen/Other", filepath.Join(off.CacheDir, "models--Qwen--Other"), "HF_HUB_OFFLINE=1"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("%s: %q does not mention %q", name, err, want)
				}
			}
		}
	})
	t.Run("partly cached", func(t *testing.T) {
		os.Remove(filepath.Join(dir, shard2))
		_, err := off.ResolveModel(ctx, "Qwen/Tiny")
		if !errors.Is(err, ErrOffline) || !strings.Contains(err.Error(), "missing "+shard2) {
			t.Errorf("err = %v, want ErrOffline naming %s", err, shard2)
		}
	})
	if reqs := srv.Requests(); len(reqs) != 0 {
		t.Errorf("offline client made requests: %v", reqs)
	}
	if _, err := online.Pull(ctx, "Qwen/Tiny", "", nil); err != nil { // restore the shard
		t.Fatal(err)
	}

	t.Run("network down", func(t *testing.T) {
		down := &Client{Endpoint: srv.URL, CacheDir: online.CacheDir}
		srv.Close()
		if got, err := down.ResolveModel(ctx, "Qwen/Tiny"); err != nil || got != dir {
			t.Errorf("ResolveModel of a cached model with the network down = %s, %v", got, err)
		}
		if got, err := down.DownloadFile(ctx, "model", "Qwen/Tiny", "main", "config.json"); err != nil || got != filepath.Join(dir, "config.json") {
			t.Errorf("DownloadFile falls back to the cache: %s, %v", got, err)
		}
		if got, err := down.Pull(ctx, "Qwen/Tiny", "main", nil); err != nil || got != dir {
			t.Errorf("Pull falls back to the cache: %s, %v", got, err)
		}
		_, err := down.ResolveModel(ctx, "Qwen/Other")
		if !errors.Is(err, ErrNetwork) || !strings.Contains(err.Error(), "HF_HUB_OFFLINE=1") ||
			!strings.Contains(err.Error(), "local model directory") {
			t.Errorf("err = %v, want ErrNetwork suggesting offline use", err)
		}
	})
}

func TestHTTPErrors(t *testing.T) {
	srv := hubtest.New(t)
	srv.AddRepo(&hubtest.Repo{ID: "Org/Gated", Token: "good", Files: modelFiles()})
	srv.AddRepo(&hubtest.Repo{ID: "Org/Open", Files: modelFiles()})
	gatedPage := srv.URL + "/Org/Gated"
	for _, tc := range []struct {
		name, token, repo, rev, file string
		kind                         error
		want                         []string
	}{
		{"gated without token", "", "Org/Gated", "main", "config.json", ErrGated,
			[]string{"gated or private", "HTTP 401", "accept the license at " + gatedPage, "set HF_TOKEN"}},
		{"gated with a refused token", "bad", "Org/Gated", "main", "config.json", ErrGated,
			[]string{"gated or private", "HTTP 403", "accept the license at " + gatedPage, "refused"}},
		{"gated with the right token", "good", "Org/Gated", "main", "config.json", nil, nil},
		{"repo not found", "", "Org/Nope", "main", "config.json", ErrNotFound,
			[]string{"repository Org/Nope not found"}},
		{"file not found", "", "Org/Open", "main", "nope.json", ErrNotFound,
			[]string{`file "nope.json" not found in Org/Open`}},
		{"revision not found", "", "Org/Open", "v9", "config.json", ErrNotFound,
			[]string{`revision "v9" not found in Org/Open`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newTestClient(t, srv)
			c.Token = tc.token
			calls := map[string]func() error{
				"DownloadFile": func() error {
					_, err := c.DownloadFile(context.Background(), "model", tc.repo, tc.rev, tc.file)
					return err
				},
			}
			if tc.file == "config.json" {
				calls["Pull"] = func() error {
					_, err := c.Pull(context.Background(), tc.repo, tc.rev, []string{tc.file})
					return err
				}
			}
			for name, call := range calls {
				err := call()
				if tc.kind == nil {
					if err != nil {
						t.Errorf("%s: %v", name, err)
					}
					continue
				}
				if !errors.Is(err, tc.kind) {
					t.Errorf("%s: err = %v, want %v", name, err, tc.kind)
					continue
				}
				for _, w := range tc.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("%s: %q does not say %q", name, err, w)
					}
				}
			}
		})
	}
}

func TestServerErrorsAreRetried(t *testing.T) {
	srv, repo, c := setup(t)
	ctx := context.Background()
	srv.Fail("config.json", 503, 2)
	p, err := c.DownloadFile(ctx, "model", "Qwen/Tiny", "main", "config.json")
	if err != nil {
		t.Fatal(err)
	}
	checkLayout(t, c.CacheDir, "models--Qwen--Tiny", repo.Commit, filepath.Dir(p), repo.Files, []string{"config.json"})
	srv.Fail("tokenizer.json", 503, -1)
	_, err = c.DownloadFile(ctx, "model", "Qwen/Tiny", "main", "tokenizer.json")
	if !errors.Is(err, ErrNetwork) || !strings.Contains(err.Error(), "HTTP 503") {
		t.Errorf("err = %v, want ErrNetwork with HTTP 503", err)
	}
}

func TestDataset(t *testing.T) {
	srv := hubtest.New(t)
	files := map[string][]byte{
		"data/test-00000-of-00001.parquet": randomBytes(40_000, 5),
		"data/train.jsonl":                 []byte(`{"q":"1+1","a":"2"}` + "\n"),
		"README.md":                        []byte("# data\n"),
	}
	repo := srv.AddRepo(&hubtest.Repo{Type: "dataset", ID: "Org/Data", Files: files})
	c := newTestClient(t, srv)
	ctx := context.Background()
	p, err := c.DownloadFile(ctx, "dataset", "Org/Data", "", "data/test-00000-of-00001.parquet")
	if err != nil {
		t.Fatal(err)
	}
	snap := filepath.Join(c.CacheDir, "datasets--Org--Data", "snapshots", repo.Commit)
	if want := filepath.Join(snap, "data", "test-00000-of-00001.parquet"); p != want {
		t.Errorf("path %s, want %s", p, want)
	}
	if r := srv.Requests()[0]; r.Method != "HEAD" || r.Path != "/datasets/Org/Data/resolve/main/data/test-00000-of-00001.parquet" {
		t.Errorf("first request %s %s", r.Method, r.Path)
	}
	dir, err := c.PullRepo(ctx, "dataset", "Org/Data", "main", nil)
	if err != nil {
		t.Fatal(err)
	}
	checkLayout(t, c.CacheDir, "datasets--Org--Data", repo.Commit, dir, files,
		[]string{"data/test-00000-of-00001.parquet", "data/train.jsonl", "README.md"})
}

func TestConcurrentDownloadsOfOneFile(t *testing.T) {
	srv, repo, c := setup(t)
	var wg sync.WaitGroup
	paths := make([]string, 4)
	errs := make([]error, 4)
	for i := range paths {
		wg.Add(1)
		go func() {
			defer wg.Done()
			paths[i], errs[i] = c.DownloadFile(context.Background(), "model", "Qwen/Tiny", "main", shard1)
		}()
	}
	wg.Wait()
	for i := range paths {
		if errs[i] != nil || paths[i] != paths[0] {
			t.Fatalf("download %d: %s, %v", i, paths[i], errs[i])
		}
	}
	if n := len(cdnGets(srv)); n != 1 {
		t.Errorf("%d CDN downloads for one blob, want 1 (the lock serialises them)", n)
	}
	checkLayout(t, c.CacheDir, "models--Qwen--Tiny", repo.Commit, filepath.Dir(paths[0]), repo.Files, []string{shard1})
}

func TestResolveModel(t *testing.T) {
	srv, repo, c := setup(t)
	ctx := context.Background()
	local := t.TempDir()
	if got, err := c.ResolveModel(ctx, local); err != nil || got != local {
		t.Errorf("local dir: %s, %v", got, err)
	}
	if _, err := c.ResolveModel(ctx, "no-such-dir"); err == nil || !strings.Contains(err.Error(), "neither a local directory nor") {
		t.Errorf("bad ref: %v", err)
	}
	dir, err := c.ResolveModel(ctx, "Qwen/Tiny@v1")
	if err != nil {
		t.Fatal(err)
	}
	checkLayout(t, c.CacheDir, "models--Qwen--Tiny", repo.Refs["v1"], dir, repo.Files, pulledByDefault)
	srv.AddRepo(&hubtest.Repo{ID: "Org/NoWeights", Files: map[string][]byte{"config.json": []byte("{}"), "tokenizer.json": []byte("{}")}})
	if _, err := c.ResolveModel(ctx, "Org/NoWeights"); err == nil || !strings.Contains(err.Error(), "lacks model.safetensors") {
		t.Errorf("repo without weights: %v", err)
	}
}

func TestNewClientFromEnv(t *testing.T) {
	home := t.TempDir()
	for _, tc := range []struct {
		name                    string
		env                     map[string]string
		tokenFile               string // written to this path under home
		endpoint, cache, token  string
		offline, progressSilent bool
	}{
		{name: "defaults", endpoint: DefaultEndpoint, cache: home + "/.cache/huggingface/hub"},
		{name: "XDG_CACHE_HOME", env: map[string]string{"XDG_CACHE_HOME": home + "/xdg"},
			endpoint: DefaultEndpoint, cache: home + "/xdg/huggingface/hub"},
		{name: "HF_HOME beats XDG", env: map[string]string{"XDG_CACHE_HOME": home + "/xdg", "HF_HOME": "~/hf"},
			endpoint: DefaultEndpoint, cache: home + "/hf/hub"},
		{name: "HF_HUB_CACHE beats HF_HOME", env: map[string]string{"HF_HOME": home + "/hf", "HF_HUB_CACHE": home + "/c", "HUGGINGFACE_HUB_CACHE": home + "/legacy"},
			endpoint: DefaultEndpoint, cache: home + "/c"},
		{name: "legacy HUGGINGFACE_HUB_CACHE", env: map[string]string{"HUGGINGFACE_HUB_CACHE": home + "/legacy"},
			endpoint: DefaultEndpoint, cache: home + "/legacy"},
		{name: "endpoint token offline", env: map[string]string{"HF_ENDPOINT": "http://mirror.test/", "HF_TOKEN": "hf_x", "HF_HUB_OFFLINE": "yes", "HF_HUB_DISABLE_PROGRESS_BARS": "1"},
			endpoint: "http://mirror.test", cache: home + "/.cache/huggingface/hub", token: "hf_x", offline: true, progressSilent: true},
		{name: "token file in HF_HOME", env: map[string]string{"HF_HOME": home + "/hf2", "HF_HUB_OFFLINE": "0", "TRANSFORMERS_OFFLINE": "1"},
			tokenFile: "hf2/token", endpoint: DefaultEndpoint, cache: home + "/hf2/hub", token: "hf_from_file"},
		{name: "TRANSFORMERS_OFFLINE", env: map[string]string{"TRANSFORMERS_OFFLINE": "TRUE"},
			endpoint: DefaultEndpoint, cache: home + "/.cache/huggingface/hub", offline: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"HF_ENDPOINT", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_TOKEN_PATH", "HF_HOME",
				"HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE", "XDG_CACHE_HOME", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE",
				"HF_HUB_DISABLE_PROGRESS_BARS"} {
				t.Setenv(k, "")
			}
			t.Setenv("HOME", home)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			if tc.tokenFile != "" {
				p := filepath.Join(home, tc.tokenFile)
				os.MkdirAll(filepath.Dir(p), 0o755)
				os.WriteFile(p, []byte("hf_from_file\n"), 0o600)
			}
			c := NewClientFromEnv()
			if c.Endpoint != tc.endpoint || c.CacheDir != filepath.FromSlash(tc.cache) || c.Token != tc.token ||
				c.Offline != tc.offline || (c.Progress == nil) != tc.progressSilent {
				t.Errorf("got endpoint %q cache %q token %q offline %v progress %v", c.Endpoint, c.CacheDir, c.Token, c.Offline, c.Progress)
			}
		})
	}
}

func TestParseRefAndIsRepoID(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "local", "model"), 0o755)
	t.Chdir(dir)
	for _, tc := range []struct {
		in        string
		repo, rev string
		ok, isID  bool
	}{
		{"Qwen/Qwen3-4B", "Qwen/Qwen3-4B", "main", true, true},
		{"Qwen/Qwen3-4B@v1.0", "Qwen/Qwen3-4B", "v1.0", true, true},
		{"Qwen/Qwen2.5-0.5B-Instruct", "Qwen/Qwen2.5-0.5B-Instruct", "main", true, true},
		{"local/model", "local/model", "main", true, false}, // exists on disk
		{"Qwen3-4B", "", "", false, false},
		{"a/b/c", "", "", false, false},
		{"/abs/path", "", "", false, false},
		{"./rel", "", "", false, false},
		{"Qwen/", "", "", false, false},
		{"Qwen/x@", "", "", false, false},
		{"Qwen/a--b", "", "", false, false},
		{"Qwen/a..b", "", "", false, false},
		{"Qwen/-a", "", "", false, false},
		{"Qwen/a.", "", "", false, false},
		{"Qwen/a b", "", "", false, false},
	} {
		repo, rev, ok := ParseRef(tc.in)
		if repo != tc.repo || rev != tc.rev || ok != tc.ok {
			t.Errorf("ParseRef(%q) = %q %q %v", tc.in, repo, rev, ok)
		}
		if got := IsRepoID(tc.in); got != tc.isID {
			t.Errorf("IsRepoID(%q) = %v", tc.in, got)
		}
	}
}

func TestPatterns(t *testing.T) {
	for _, tc := range []struct {
		patterns []string
		name     string
		want     bool
	}{
		{DefaultModelPatterns, "config.json", true},
		{DefaultModelPatterns, "tokenizer_config.json", true},
		{DefaultModelPatterns, "model-00001-of-00002.safetensors", true},
		{DefaultModelPatterns, "model.safetensors.index.json", true},
		{DefaultModelPatterns, "README.md", false},
		{DefaultModelPatterns, "pytorch_model.bin", false},
		{DefaultModelPatterns, "vocab.json", false},
		{[]string{"*.json"}, "sub/dir/x.json", true}, // fnmatch '*' crosses '/'
		{[]string{"onnx/"}, "onnx/model.onnx", true},
		{[]string{"onnx/"}, "onnx2/model.onnx", false},
		{[]string{"model-0000[12]-*"}, "model-00002-of-00002.safetensors", true},
		{[]string{"model-0000[!12]-*"}, "model-00002-of-00002.safetensors", false},
		{[]string{"?.txt"}, "a.txt", true},
		{[]string{"?.txt"}, "ab.txt", false},
		{[]string{"a+b(c).txt"}, "a+b(c).txt", true},
		{[]string{"[.txt"}, "[.txt", true},
		{nil, "anything", true},
	} {
		m, err := compilePatterns(tc.patterns)
		if err != nil {
			t.Fatal(err)
		}
		if got := m(tc.name); got != tc.want {
			t.Errorf("%v matches %q = %v, want %v", tc.patterns, tc.name, got, tc.want)
		}
	}
}

func TestProgress(t *testing.T) {
	_, _, c := setup(t)
	var out bytes.Buffer
	c.Progress = &out
	if _, err := c.DownloadFile(context.Background(), "model", "Qwen/Tiny", "main", shard1); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{shard1, "100.0%", "300.0 kB / 300.0 kB", "done in"} {
		if !strings.Contains(s, want) {
			t.Errorf("progress %q lacks %q", s, want)
		}
	}
	if strings.Contains(s, "\r") {
		t.Errorf("\\r written to a non-terminal: %q", s)
	}

	line := renderBar("f.bin", 50_000_000, 100_000_000, 50_000_000, 10*time.Second, false)
	for _, want := range []string{"f.bin", "[############............]", " 50.0%", "50.0 MB / 100.0 MB", "5.0 MB/s", "ETA 0:10"} {
		if !strings.Contains(line, want) {
			t.Errorf("renderBar = %q lacks %q", line, want)
		}
	}
	var tty bytes.Buffer
	b := &bar{w: &tty, tty: true, name: "x", total: 10, start: time.Now(), every: time.Hour}
	b.draw(time.Now(), false)
	b.add(10)
	b.finish(true)
	if !strings.HasPrefix(tty.String(), "\r") || !strings.HasSuffix(tty.String(), "\n") || strings.Count(tty.String(), "\r") != 2 {
		t.Errorf("terminal bar %q: want \\r redraws and a final newline", tty.String())
	}
	for n, want := range map[int64]string{999: "999 B", 1000: "1.0 kB", 1_500_000: "1.5 MB", 8_000_000_000: "8.0 GB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestSharesCacheWrittenByPython builds a cache the way huggingface_hub
// lays it out (refs/main, blobs named by etag, relative snapshot symlinks)
// and checks that it is used as is: offline, and online without downloads.
func TestSharesCacheWrittenByPython(t *testing.T) {
	srv := hubtest.New(t)
	files := modelFiles()
	repo := srv.AddRepo(&hubtest.Repo{ID: "Org/Py", Files: files})
	cache := t.TempDir()
	storage := filepath.Join(cache, "models--Org--Py")
	snap := filepath.Join(storage, "snapshots", repo.Commit)
	for _, name := range pulledByDefault {
		etag := hubtest.Etag(name, files[name])
		os.MkdirAll(filepath.Join(storage, "blobs"), 0o755)
		os.MkdirAll(snap, 0o755)
		if err := os.WriteFile(filepath.Join(storage, "blobs", etag), files[name], 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("../../blobs/"+etag, filepath.Join(snap, name)); err != nil {
			t.Fatal(err)
		}
	}
	os.MkdirAll(filepath.Join(storage, "refs"), 0o755)
	os.WriteFile(filepath.Join(storage, "refs", "main"), []byte(repo.Commit), 0o644)

	ctx := context.Background()
	off := &Client{Endpoint: srv.URL, CacheDir: cache, Offline: true}
	if dir, err := off.ResolveModel(ctx, "Org/Py"); err != nil || dir != snap {
		t.Errorf("offline ResolveModel = %s, %v; want %s", dir, err, snap)
	}
	on := newTestClient(t, srv)
	on.CacheDir = cache
	if dir, err := on.Pull(ctx, "Org/Py", "main", nil); err != nil || dir != snap {
		t.Errorf("Pull = %s, %v", dir, err)
	}
	if p, err := on.DownloadFile(ctx, "model", "Org/Py", repo.Commit, "config.json"); err != nil || p != filepath.Join(snap, "config.json") {
		t.Errorf("DownloadFile by commit = %s, %v", p, err)
	}
	for _, r := range srv.Requests() {
		if r.Method == "GET" && !strings.HasPrefix(r.Path, "/api/models/Org/Py/revision/") {
			t.Errorf("downloaded %s although the cache had it", r.Path)
		}
	}
	// A blob already in blobs/ (say from another snapshot) is linked, not fetched.
	os.WriteFile(filepath.Join(storage, "blobs", hubtest.Etag("README.md", files["README.md"])), files["README.md"], 0o644)
	srv.ResetRequests()
	if _, err := on.DownloadFile(ctx, "model", "Org/Py", "main", "README.md"); err != nil {
		t.Fatal(err)
	}
	for _, r := range srv.Requests() {
		if r.Method == "GET" {
			t.Errorf("fetched %s although its blob was cached", r.Path)
		}
	}
}
