package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"

	"github.com/latentmas/latentmas/hub"
)

func init() {
	register(command{
		name:    "pull",
		summary: "download a model (or dataset) from the Hugging Face Hub into the shared cache",
		run:     runPull,
	})
}

const pullUsage = `Usage: latentmas pull ORG/NAME[@REVISION] [flags]

Downloads a repository from the Hugging Face Hub into the Hugging Face cache
(the same one Python's huggingface_hub and transformers use) and prints the
snapshot directory. Files already cached are not fetched again; an interrupted
download resumes where it stopped. For a model, the default files are
config.json, generation_config.json, tokenizer*.json and the safetensors
weights (with their index).

Environment: HF_ENDPOINT (default https://huggingface.co), HF_TOKEN (for gated
or private repos; else $HF_HOME/token), HF_HUB_CACHE / HF_HOME (cache location),
HF_HUB_OFFLINE=1 (no network: only report what is cached).`

func runPull(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("pull", pullUsage, stderr)
	revision := fs.String("revision", "", "branch, tag or commit (default main, or the @REVISION of the name)")
	include := fs.StringSlice("include", nil, "fnmatch glob of files to fetch; repeatable or comma-separated (default: the model files above; every file of a dataset)")
	cacheDir := fs.String("cache-dir", "", "hub cache folder (default $HF_HUB_CACHE, $HF_HOME/hub or ~/.cache/huggingface/hub)")
	repoType := fs.String("repo-type", "model", "model or dataset")
	quiet := fs.Bool("quiet", false, "no progress output")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("want one repository, ORG/NAME[@REVISION], got %d arguments (see latentmas pull --help)", fs.NArg())
	}
	repoID, rev, ok := hub.ParseRef(fs.Arg(0))
	if !ok {
		return fmt.Errorf("%q is not a Hugging Face repo id (ORG/NAME[@REVISION])", fs.Arg(0))
	}
	if *revision != "" {
		if strings.Contains(fs.Arg(0), "@") && *revision != rev {
			return fmt.Errorf("revision given twice: %s and --revision %s", fs.Arg(0), *revision)
		}
		rev = *revision
	}
	c := hub.NewClientFromEnv()
	c.Progress = stderr
	if *quiet {
		c.Progress = nil
	}
	if *cacheDir != "" {
		c.CacheDir = *cacheDir
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	dir, err := c.PullRepo(ctx, *repoType, repoID, rev, *include)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, dir)
	return nil
}
