package main

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/nuage-storage/nuage/client"
)

// Transfer state lives in the config directory:
//
//	uploads/<sha256>.json       an interrupted upload (client.ResumeState, with the content key)
//	uploads/tree-<sha256>.json  an interrupted `put -r`: where the copy goes
//	downloads/tree-<sha256>.json an interrupted `get -r`: where the copy goes
//
// and a partial download beside its destination:
//
//	.NAME.nuage-partial       the authenticated bytes fetched so far
//	.NAME.nuage-partial.json  which file and version they are, and how many are durable
//
// Every file is written with mode 0600 and removed once the transfer is done.

// staleTransferAge is when forgotten upload states are pruned: by then the
// coordinator has long collected the pending upload (48 h by default).
const staleTransferAge = 7 * 24 * time.Hour

// transferDir returns CONFIG/name, where transfer state is kept.
func (a *app) transferDir(name string) (string, error) {
	d, err := a.stateDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, name), nil
}

// stateKey hashes the identity of a transfer (length-prefixed parts) into
// a file name.
func stateKey(parts ...string) string {
	h := sha256.New()
	var n [8]byte
	for _, p := range parts {
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		h.Write([]byte(p))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// uploadStatePath is where the resume state of an upload of the local file
// abs (size bytes, modified at mtime) to remote is kept: a changed file
// starts over.
func uploadStatePath(dir, abs string, size int64, mtime time.Time, remote string) string {
	return filepath.Join(dir, stateKey("upload", abs, strconv.FormatInt(size, 10), strconv.FormatInt(mtime.UnixNano(), 10), remote)+".json")
}

// loadUploadState reads a saved upload state; a missing or unreadable one
// yields a fresh state (an unreadable one is reported).
func (a *app) loadUploadState(p string, pr *progress) *client.ResumeState {
	b, err := os.ReadFile(p)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			pr.printf("warning: cannot read the saved upload state %s (%v); starting over\n", p, err)
		}
		return &client.ResumeState{}
	}
	var rs client.ResumeState
	if err := json.Unmarshal(b, &rs); err != nil {
		pr.printf("warning: the saved upload state %s is corrupt (%v); starting over\n", p, err)
		return &client.ResumeState{}
	}
	return &rs
}

// saveUploadState returns the Save callback of a ResumeState kept at p.
func saveUploadState(p string) func(*client.ResumeState) error {
	return func(rs *client.ResumeState) error {
		b, err := json.Marshal(rs)
		if err != nil {
			return err
		}
		return writePrivate(p, b, false)
	}
}

// pruneStale removes transfer state files in dir older than staleTransferAge.
func pruneStale(dir string, now time.Time) {
	es, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range es {
		if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), ".json") {
			continue
		}
		if info, err := e.Info(); err == nil && now.Sub(info.ModTime()) > staleTransferAge {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// treeJob records where an interrupted recursive transfer copies to, so
// that re-running the same command continues it instead of nesting a new
// copy inside the first (cp -r semantics would, since the destination now
// exists).
type treeJob struct {
	Source string `json:"source"`
	Dest   string `json:"dest"`
	Target string `json:"target"`
}

func treeJobPath(dir, kind, source, dest string) string {
	return filepath.Join(dir, "tree-"+stateKey(kind, source, dest)+".json")
}

// loadTreeJob returns the saved job at p, if any.
func loadTreeJob(p string) (treeJob, bool) {
	b, err := os.ReadFile(p)
	if err != nil {
		return treeJob{}, false
	}
	var j treeJob
	if json.Unmarshal(b, &j) != nil || j.Target == "" {
		return treeJob{}, false
	}
	return j, true
}

func saveTreeJob(p string, j treeJob) error {
	b, err := json.Marshal(j)
	if err != nil {
		return err
	}
	if err := writePrivate(p, b, false); err != nil {
		return fmt.Errorf("save transfer state: %w", err)
	}
	return nil
}

// partialState describes a partial download: which stored bytes it holds
// and how many of them are durable on disk.
type partialState struct {
	Entry   string    `json:"entry"`
	Object  string    `json:"object,omitempty"`
	Version int       `json:"version"`
	Size    int64     `json:"size"`
	ModTime time.Time `json:"mtime"`
	Done    int64     `json:"done"`
}

// same reports whether p and q describe the same stored bytes.
func (p partialState) same(q partialState) bool {
	return p.Entry == q.Entry && p.Object == q.Object && p.Version == q.Version &&
		p.Size == q.Size && p.ModTime.Equal(q.ModTime)
}

// partialPaths returns the partial file and its sidecar for local.
func partialPaths(local string) (string, string) {
	p := filepath.Join(filepath.Dir(local), "."+filepath.Base(local)+".nuage-partial")
	return p, p + ".json"
}

func loadPartial(p string) (partialState, bool) {
	b, err := os.ReadFile(p)
	if err != nil {
		return partialState{}, false
	}
	var ps partialState
	if json.Unmarshal(b, &ps) != nil {
		return partialState{}, false
	}
	return ps, true
}
