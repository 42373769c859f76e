package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/latentmas/latentmas/hub/hubtest"
)

func TestPullCommand(t *testing.T) {
	srv := hubtest.New(t)
	files := map[string][]byte{
		"config.json":       []byte(`{"model_type":"qwen3"}`),
		"tokenizer.json":    []byte(`{"model":{}}`),
		"model.safetensors": bytes.Repeat([]byte{1, 2, 3}, 10_000),
		"README.md":         []byte("# m\n"),
	}
	repo := srv.AddRepo(&hubtest.Repo{ID: "Org/M", Files: files})
	srv.AddRepo(&hubtest.Repo{Type: "dataset", ID: "Org/D", Files: map[string][]byte{"data/x.jsonl": []byte("{}\n")}})
	for _, k := range []string{"HF_TOKEN", "HUGGING_FACE_HUB_TOKEN", "HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_HUB_CACHE"} {
		t.Setenv(k, "")
	}
	t.Setenv("HF_HOME", t.TempDir())
	t.Setenv("HF_ENDPOINT", srv.URL)

	cache := t.TempDir()
	snap := filepath.Join(cache, "models--Org--M", "snapshots", repo.Commit)
	for _, tc := range []struct {
		name       string
		args       []string
		env        map[string]string
		code       int
		stdout     string   // exact, when set
		stderr     []string // substrings
		have, lack []string // files under the printed snapshot dir
	}{
		{name: "default files", args: []string{"pull", "Org/M", "--cache-dir", cache}, code: 0, stdout: snap + "\n",
			stderr: []string{"model.safetensors", "100.0%"}, have: []string{"config.json", "tokenizer.json", "model.safetensors"}, lack: []string{"README.md"}},
		{name: "include", args: []string{"pull", "--include", "*.md", "--cache_dir", cache, "--quiet", "Org/M@main"}, code: 0, stdout: snap + "\n",
			have: []string{"README.md"}},
		{name: "offline, cached", args: []string{"pull", "Org/M", "--cache-dir", cache}, env: map[string]string{"HF_HUB_OFFLINE": "1"},
			code: 0, stdout: snap + "\n"},
		{name: "offline, not cached", args: []string{"pull", "Org/Other", "--cache-dir", cache}, env: map[string]string{"HF_HUB_OFFLINE": "1"},
			code: 1, stderr: []string{"offline mode is on", "latentmas pull Org/Other"}},
		{name: "dataset", args: []string{"pull", "Org/D", "--repo-type", "dataset", "--cache-dir", cache, "--quiet"}, code: 0,
			stdout: filepath.Join(cache, "datasets--Org--D", "snapshots", hubtest.GitBlobSHA1([]byte("commit datasetOrg/D"))) + "\n",
			have:   []string{"data/x.jsonl"}},
		{name: "not found", args: []string{"pull", "Org/Nope", "--cache-dir", cache}, code: 1,
			stderr: []string{"latentmas pull: hub: repository Org/Nope not found"}},
		{name: "no repo", args: []string{"pull"}, code: 1, stderr: []string{"want one repository"}},
		{name: "bad repo", args: []string{"pull", "not-a-repo"}, code: 1, stderr: []string{"not a Hugging Face repo id"}},
		{name: "help", args: []string{"pull", "--help"}, code: 0, stderr: []string{"Usage: latentmas pull", "--include"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			var stdout, stderr bytes.Buffer
			code := runMain(tc.args, &stdout, &stderr)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tc.code, stderr.String())
			}
			if tc.stdout != "" && stdout.String() != tc.stdout {
				t.Errorf("stdout %q, want %q", stdout.String(), tc.stdout)
			}
			for _, w := range tc.stderr {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
				}
			}
			dir := strings.TrimSpace(stdout.String())
			for _, f := range tc.have {
				want := files[f]
				if want == nil {
					want = []byte("{}\n")
				}
				if got, err := os.ReadFile(filepath.Join(dir, f)); err != nil || !bytes.Equal(got, want) {
					t.Errorf("%s: %v", f, err)
				}
			}
			for _, f := range tc.lack {
				if _, err := os.Lstat(filepath.Join(dir, f)); err == nil {
					t.Errorf("%s was pulled", f)
				}
			}
		})
	}
}
