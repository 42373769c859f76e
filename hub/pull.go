package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// DefaultModelPatterns are the files Pull fetches from a model repository
// when no patterns are given: what loading a Qwen checkpoint needs, and not
// the README, images or other weight formats.
var DefaultModelPatterns = []string{
	"config.json",
	"generation_config.json",
	"tokenizer*.json",
	"chat_template.json",
	"chat_template.jinja",
	"*.safetensors",
	"*.safetensors.index.json",
}

// RepoFile is one file listed by the Hub for a revision.
type RepoFile struct {
	// Path is the file's path in the repository ("rfilename").
	Path string `json:"rfilename"`
	// Size is its size in bytes when the Hub said (0 otherwise).
	Size int64 `json:"size"`
}

// RepoInfo is what the Hub's revision API says about a repository.
type RepoInfo struct {
	// ID is the repository id ("ORG/NAME").
	ID string `json:"id"`
	// SHA is the commit the revision points to.
	SHA string `json:"sha"`
	// Files are the files at that commit ("siblings").
	Files []RepoFile `json:"siblings"`
}

// RepoInfo asks {endpoint}/api/{models|datasets}/{repo}/revision/{revision}
// (with blobs=true, for sizes) which commit a revision is at and which files
// it holds.
func (c *Client) RepoInfo(ctx context.Context, repoType, repoID, revision string) (*RepoInfo, error) {
	if revision == "" {
		revision = "main"
	}
	if err := checkRepo(repoType, repoID); err != nil {
		return nil, err
	}
	t := target{repoType: repoType, repoID: repoID, revision: revision}
	if c.Offline {
		return nil, c.offlineError(t, c.storageFolder(repoType, repoID), "")
	}
	u := fmt.Sprintf("%s/api/%s/%s/revision/%s?blobs=true", c.endpoint(), repoTypes[repoType], repoID,
		url.PathEscape(revision))
	req, err := c.newRequest(ctx, http.MethodGet, u, true)
	if err != nil {
		return nil, err
	}
	resp, err := c.httpClient().Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, c.networkError(err, t)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, c.statusError(resp, t)
	}
	var info RepoInfo
	if err := json.NewDecoder(resp.Body).Decode(&info); err != nil {
		return nil, &hubError{kind: ErrNetwork, cause: err, msg: fmt.Sprintf("hub: %s: reading %s: %v", t, u, err)}
	}
	if !commitRE.MatchString(info.SHA) {
		return nil, &hubError{kind: ErrNetwork, msg: fmt.Sprintf("hub: %s: %s gave no commit (sha %q)", t, u, info.SHA)}
	}
	return &info, nil
}

// Pull downloads the files of model repository repoID at revision ("" means
// "main") that match patterns (nil means DefaultModelPatterns) into the cache
// and returns the snapshot directory, like huggingface_hub's
// snapshot_download. See PullRepo.
func (c *Client) Pull(ctx context.Context, repoID, revision string, patterns []string) (string, error) {
	return c.PullRepo(ctx, "model", repoID, revision, patterns)
}

// PullRepo is Pull for a repo type ("model" or "dataset"). Patterns are
// fnmatch globs on the path in the repository ('*' also crosses '/', a
// trailing '/' means everything below); nil means DefaultModelPatterns for a
// model and every file for a dataset. Files already in the snapshot are not
// fetched again. refs/REVISION is updated to the commit the Hub reports.
// Offline, or when the Hub cannot be reached, the cached snapshot of the
// revision is returned if there is one.
func (c *Client) PullRepo(ctx context.Context, repoType, repoID, revision string, patterns []string) (string, error) {
	if revision == "" {
		revision = "main"
	}
	if err := checkRepo(repoType, repoID); err != nil {
		return "", err
	}
	if patterns == nil && repoType == "model" {
		patterns = DefaultModelPatterns
	}
	match, err := compilePatterns(patterns)
	if err != nil {
		return "", err
	}
	t := target{repoType: repoType, repoID: repoID, revision: revision}
	storage := c.storageFolder(repoType, repoID)
	if c.Offline {
		if dir := cachedSnapshotDir(storage, revision); dir != "" {
			return dir, nil
		}
		return "", c.offlineError(t, storage, "")
	}
	info, err := c.RepoInfo(ctx, repoType, repoID, revision)
	if err != nil {
		if fallbackToCache(err) {
			if dir := cachedSnapshotDir(storage, revision); dir != "" {
				c.notef("%v\nhub: using the cached snapshot %s", err, dir)
				return dir, nil
			}
		}
		return "", err
	}
	var files []RepoFile
	var total int64
	for _, f := range info.Files {
		if match(f.Path) {
			if err := checkFilename(f.Path); err != nil {
				return "", err
			}
			files = append(files, f)
			total += f.Size
		}
	}
	if len(files) == 0 {
		return "", &hubError{kind: ErrNotFound, msg: fmt.Sprintf(
			"hub: no file of %s at %s matches %s (it has %d files)", t, revision, strings.Join(patterns, " "), len(info.Files))}
	}
	if err := os.MkdirAll(storage, 0o755); err != nil {
		return "", err
	}
	if err := writeRef(storage, revision, info.SHA); err != nil {
		return "", err
	}
	dir := filepath.Join(storage, "snapshots", info.SHA)
	var todo []RepoFile
	for _, f := range files {
		if !exists(filepath.Join(dir, filepath.FromSlash(f.Path))) {
			todo = append(todo, f)
		}
	}
	if len(todo) > 0 {
		var need int64
		for _, f := range todo {
			need += f.Size
		}
		c.notef("hub: %s@%s (commit %s): fetching %d of %d files (%s) into %s",
			repoID, revision, info.SHA[:12], len(todo), len(files), humanBytes(need), storage)
	}
	for _, f := range todo {
		// The commit, not the branch: every file comes from the same snapshot.
		if _, err := c.DownloadFile(ctx, repoType, repoID, info.SHA, f.Path); err != nil {
			return "", err
		}
	}
	return dir, nil
}

// compilePatterns turns fnmatch globs into one matcher; no patterns match
// everything.
func compilePatterns(patterns []string) (func(string) bool, error) {
	if len(patterns) == 0 {
		return func(string) bool { return true }, nil
	}
	res := make([]*regexp.Regexp, 0, len(patterns))
	for _, p := range patterns {
		re, err := globRegexp(p)
		if err != nil {
			return nil, fmt.Errorf("hub: bad pattern %q: %v", p, err)
		}
		res = append(res, re)
	}
	return func(name string) bool {
		for _, re := range res {
			if re.MatchString(name) {
				return true
			}
		}
		return false
	}, nil
}

// globRegexp translates a Python fnmatch pattern: '*' any run of characters
// (including '/'), '?' one character, "[...]" a class ("[!...]" negated).
// A trailing '/' matches everything below that folder.
func globRegexp(p string) (*regexp.Regexp, error) {
	if strings.HasSuffix(p, "/") {
		p += "*"
	}
	var sb strings.Builder
	sb.WriteString(`^(?s:`)
	for i := 0; i < len(p); i++ {
		switch ch := p[i]; ch {
		case '*':
			sb.WriteString(`.*`)
		case '?':
			sb.WriteString(`.`)
		case '[':
			j := i + 1
			if j < len(p) && p[j] == '!' {
				j++
			}
			if j < len(p) && p[j] == ']' {
				j++
			}
			for j < len(p) && p[j] != ']' {
				j++
			}
			if j >= len(p) {
				sb.WriteString(`\[`)
				continue
			}
			class := p[i+1 : j]
			if strings.HasPrefix(class, "!") {
				class = "^" + class[1:]
			} else if strings.HasPrefix(class, "^") {
				class = `\` + class
			}
			sb.WriteString("[" + strings.ReplaceAll(class, `\`, `\\`) + "]")
			i = j
		default:
			sb.WriteString(regexp.QuoteMeta(string(ch)))
		}
	}
	sb.WriteString(`)$`)
	return regexp.Compile(sb.String())
}

// ResolveModel turns a model reference into a local directory: an existing
// directory is returned as is; "ORG/NAME" or "ORG/NAME@REVISION" is looked up
// in the cache (refs/REVISION -> snapshots/COMMIT) and used without network
// when it holds a complete model (config.json, tokenizer.json and every
// safetensors file the index names); otherwise it is pulled (unless Offline,
// which fails naming where it looked and how to get the model).
func (c *Client) ResolveModel(ctx context.Context, ref string) (string, error) {
	if fi, err := os.Stat(ref); err == nil {
		if !fi.IsDir() {
			return "", fmt.Errorf("hub: %s is a file; want a model directory or a repo id ORG/NAME", ref)
		}
		return ref, nil
	}
	repoID, revision, ok := ParseRef(ref)
	if !ok {
		return "", fmt.Errorf("hub: %q is neither a local directory nor a Hugging Face repo id (ORG/NAME[@REVISION])", ref)
	}
	storage := c.storageFolder("model", repoID)
	missing := ""
	if dir := cachedSnapshotDir(storage, revision); dir != "" {
		m := MissingModelFiles(dir)
		if len(m) == 0 {
			return dir, nil
		}
		missing = strings.Join(m, ", ")
	}
	t := target{repoType: "model", repoID: repoID, revision: revision}
	if c.Offline {
		return "", c.offlineError(t, storage, missing)
	}
	dir, err := c.Pull(ctx, repoID, revision, nil)
	if err != nil {
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrGated) {
			return "", fmt.Errorf("%w\n  (%q is not a local directory either)", err, ref)
		}
		return "", err
	}
	if m := MissingModelFiles(dir); len(m) > 0 {
		return "", &hubError{kind: ErrNotFound, msg: fmt.Sprintf(
			"hub: %s@%s was fetched into %s but it lacks %s: is it a safetensors checkpoint with a tokenizer.json?",
			repoID, revision, dir, strings.Join(m, ", "))}
	}
	return dir, nil
}

// MissingModelFiles lists what dir lacks to be a loadable model:
// config.json, tokenizer.json, and the safetensors weights (every shard
// model.safetensors.index.json names, else model.safetensors or some
// *.safetensors). Dangling snapshot symlinks count as missing.
func MissingModelFiles(dir string) []string {
	var missing []string
	for _, f := range []string{"config.json", "tokenizer.json"} {
		if !exists(filepath.Join(dir, f)) {
			missing = append(missing, f)
		}
	}
	index := filepath.Join(dir, "model.safetensors.index.json")
	if b, err := os.ReadFile(index); err == nil {
		var idx struct {
			WeightMap map[string]string `json:"weight_map"`
		}
		if err := json.Unmarshal(b, &idx); err != nil || len(idx.WeightMap) == 0 {
			return append(missing, "a readable model.safetensors.index.json")
		}
		seen := map[string]bool{}
		for _, shard := range idx.WeightMap {
			if !seen[shard] {
				seen[shard] = true
				if checkFilename(shard) != nil || !exists(filepath.Join(dir, filepath.FromSlash(shard))) {
					missing = append(missing, shard)
				}
			}
		}
		sort.Strings(missing)
		return missing
	} else if !errors.Is(err, os.ErrNotExist) {
		return append(missing, "model.safetensors.index.json ("+err.Error()+")")
	}
	if exists(filepath.Join(dir, "model.safetensors")) {
		return missing
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "*.safetensors")); len(m) > 0 {
		for _, p := range m {
			if exists(p) {
				return missing
			}
		}
	}
	return append(missing, "model.safetensors (or model.safetensors.index.json and its shards)")
}
