package hub

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
)

var (
	commitRE  = regexp.MustCompile(`^[0-9a-f]{40}$`)
	sha256RE  = regexp.MustCompile(`^[0-9a-f]{64}$`)
	repoPart  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	safeEtag  = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+=-]*$`)
	repoTypes = map[string]string{"model": "models", "dataset": "datasets"}
)

// validRepoID reports whether id is "ORG/NAME" as the Hub allows it: two parts
// of letters, digits, '.', '_', '-', not starting or ending with '.' or '-',
// without "--" or "..", at most 96 characters each.
func validRepoID(id string) bool {
	org, name, ok := strings.Cut(id, "/")
	if !ok {
		return false
	}
	for _, p := range []string{org, name} {
		if len(p) > 96 || !repoPart.MatchString(p) || strings.Contains(p, "--") ||
			strings.Contains(p, "..") || strings.HasSuffix(p, ".") || strings.HasSuffix(p, "-") {
			return false
		}
	}
	return true
}

// ParseRef splits "ORG/NAME" or "ORG/NAME@REVISION" into a repo id and a
// revision ("main" when none is given). ok is false when ref is not of that
// form; it does not look at the file system.
func ParseRef(ref string) (repoID, revision string, ok bool) {
	repoID, revision, hasRev := strings.Cut(ref, "@")
	if hasRev && revision == "" || !validRepoID(repoID) {
		return "", "", false
	}
	if !hasRev {
		revision = "main"
	}
	return repoID, revision, true
}

// IsRepoID reports whether s names a Hub repository ("ORG/NAME", optionally
// "@REVISION") rather than a local path: it has that form and no file or
// directory of that name exists.
func IsRepoID(s string) bool {
	if _, _, ok := ParseRef(s); !ok {
		return false
	}
	_, err := os.Lstat(s)
	return os.IsNotExist(err)
}

func checkRepo(repoType, repoID string) error {
	if _, ok := repoTypes[repoType]; !ok {
		return fmt.Errorf("hub: repo type %q: want \"model\" or \"dataset\"", repoType)
	}
	if !validRepoID(repoID) {
		return fmt.Errorf("hub: %q is not a Hugging Face repo id (ORG/NAME)", repoID)
	}
	return nil
}

// checkFilename rejects repo paths that would escape the snapshot folder.
func checkFilename(name string) error {
	if name == "" || strings.HasPrefix(name, "/") || strings.Contains(name, "\\") ||
		path.Clean(name) != name || name == "." || strings.HasPrefix(name, "../") || name == ".." {
		return fmt.Errorf("hub: bad file name %q in repository", name)
	}
	return nil
}

// RepoFolderName is the cache folder of a repository, as huggingface_hub
// names it: "models--ORG--NAME" or "datasets--ORG--NAME".
func RepoFolderName(repoType, repoID string) string {
	return repoTypes[repoType] + "--" + strings.ReplaceAll(repoID, "/", "--")
}

func (c *Client) storageFolder(repoType, repoID string) string {
	return filepath.Join(c.cacheDir(), RepoFolderName(repoType, repoID))
}

// cachedCommit maps a revision to a commit through refs/REVISION (or returns
// a commit hash unchanged); "" when unknown.
func cachedCommit(storage, revision string) string {
	if commitRE.MatchString(revision) {
		return revision
	}
	b, err := os.ReadFile(filepath.Join(storage, "refs", filepath.FromSlash(revision)))
	if err != nil {
		return ""
	}
	commit := strings.TrimSpace(string(b))
	if !commitRE.MatchString(commit) {
		return ""
	}
	return commit
}

// cachedSnapshotDir is snapshots/COMMIT for revision if that folder exists.
func cachedSnapshotDir(storage, revision string) string {
	commit := cachedCommit(storage, revision)
	if commit == "" {
		return ""
	}
	dir := filepath.Join(storage, "snapshots", commit)
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return ""
	}
	return dir
}

// writeRef records refs/REVISION = commit (no newline), unless revision is
// the commit itself.
func writeRef(storage, revision, commit string) error {
	if revision == commit {
		return nil
	}
	p := filepath.Join(storage, "refs", filepath.FromSlash(revision))
	if b, err := os.ReadFile(p); err == nil && string(b) == commit {
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return writeFileAtomic(p, []byte(commit))
}

func writeFileAtomic(p string, data []byte) error {
	tmp := p + ".tmp-" + randSuffix()
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, p); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

func randSuffix() string {
	var b [6]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// linkPointer makes snapshots/COMMIT/PATH a relative symlink to the blob
// (../../blobs/ETAG for a top-level file), replacing whatever was there.
// Where symlinks are not supported it copies the blob instead, as
// huggingface_hub does.
func linkPointer(blob, pointer string) error {
	if err := os.MkdirAll(filepath.Dir(pointer), 0o755); err != nil {
		return err
	}
	rel, err := filepath.Rel(filepath.Dir(pointer), blob)
	if err != nil {
		return err
	}
	tmp := pointer + ".tmp-" + randSuffix()
	if err := os.Symlink(rel, tmp); err != nil {
		return copyFile(blob, pointer)
	}
	if err := os.Rename(tmp, pointer); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := dst + ".tmp-" + randSuffix()
	out, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(tmp)
		return err
	}
	if err := out.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, dst)
}

// exists reports whether p exists, following symlinks (a dangling pointer
// whose blob was deleted does not count).
func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
