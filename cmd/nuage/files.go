package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/dustin/go-humanize"
	"github.com/spf13/cobra"

	"github.com/nuage-storage/nuage/client"
)

func (a *app) putCommand() *cobra.Command {
	var recursive bool
	cmd := &cobra.Command{
		Use:     "put LOCAL... REMOTE",
		GroupID: "files",
		Short:   "Encrypt and upload files",
		Long: `Encrypt files on this machine and store them. REMOTE is an absolute path.

Like cp: if REMOTE is an existing folder (or several LOCALs are given) the
files go inside it; otherwise REMOTE is the new file's path. With -r a local
folder is copied with everything in it: to REMOTE itself if REMOTE does not
exist, into REMOTE if it is a folder.`,
		Example: `  nuage put photo.jpg /photos/photo.jpg
  nuage put a.txt b.txt /docs
  nuage put -r ~/Pictures /photos`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 2 {
				return usagef("put takes LOCAL... REMOTE (got %d arguments)", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			defer c.Close()
			ctx := cmd.Context()
			locals, remote := args[:len(args)-1], args[len(args)-1]
			remote, err = client.CleanPath(remote)
			if err != nil {
				return err
			}
			dstIsDir := false
			if st, err := c.Stat(ctx, remote); err == nil {
				dstIsDir = st.IsDir
			} else if !errors.Is(err, client.ErrNotFound) {
				return err
			}
			if len(locals) > 1 && !dstIsDir {
				return usagef("%s is not an existing folder; with several sources the destination must be one", remote)
			}
			pr := a.newProgress()
			defer pr.wait()
			for _, l := range locals {
				st, err := os.Stat(l)
				if err != nil {
					return err
				}
				target := remote
				if dstIsDir {
					target = path.Join(remote, filepath.Base(filepath.Clean(l)))
				}
				if st.IsDir() {
					if !recursive {
						return usagef("%s is a folder; use -r to upload it with its contents", l)
					}
					if err := a.putTree(cmd, c, pr, l, target); err != nil {
						return err
					}
					continue
				}
				if err := a.putFile(cmd, c, pr, l, target); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&recursive, "recursive", "r", false, "upload folders and their contents")
	return cmd
}

func (a *app) putFile(cmd *cobra.Command, c *client.Client, pr *progress, local, remote string) error {
	f, err := os.Open(local)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if !st.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", local)
	}
	report, done := pr.bar(filepath.Base(local), st.Size())
	start := time.Now()
	e, err := c.Put(cmd.Context(), remote, f, st.Size(), &client.PutOptions{ModTime: st.ModTime(), Mode: st.Mode(), Progress: report})
	done(err == nil)
	if err != nil {
		return err
	}
	a.infof("stored %s (%s) in %s\n", e.Path, humanize.IBytes(uint64(e.Size)), rate(e.Size, time.Since(start)))
	return nil
}

func (a *app) putTree(cmd *cobra.Command, c *client.Client, pr *progress, local, remote string) error {
	return filepath.WalkDir(local, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(local, p)
		if err != nil {
			return err
		}
		target := remote
		if rel != "." {
			target = path.Join(remote, filepath.ToSlash(rel))
		}
		switch {
		case d.IsDir():
			_, err := c.Mkdir(cmd.Context(), target, true)
			return err
		case d.Type().IsRegular():
			return a.putFile(cmd, c, pr, p, target)
		default:
			a.infof("skipping %s: not a regular file\n", p)
			return nil
		}
	})
}

func rate(n int64, d time.Duration) string {
	if d <= 0 {
		d = time.Millisecond
	}
	return fmt.Sprintf("%s (%s/s)", d.Round(time.Millisecond), humanize.IBytes(uint64(float64(n)/d.Seconds())))
}

func (a *app) getCommand() *cobra.Command {
	var recursive bool
	cmd := &cobra.Command{
		Use:     "get REMOTE... LOCAL",
		GroupID: "files",
		Short:   "Download and decrypt files",
		Long: `Fetch files, verify every piece and every 64 KiB block, and decrypt them
here. A download is written to a temporary file and renamed into place only
once complete and authenticated: a failed get never leaves a partial file
under the destination name.

Like cp: if LOCAL is an existing folder the files go inside it; otherwise
LOCAL is the new file's name. With -r a remote folder is fetched with
everything in it.`,
		Example: `  nuage get /photos/photo.jpg .
  nuage get -r /photos ~/restored`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 2 {
				return usagef("get takes REMOTE... LOCAL (got %d arguments)", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			defer c.Close()
			remotes, local := args[:len(args)-1], args[len(args)-1]
			localIsDir := false
			if st, err := os.Stat(local); err == nil && st.IsDir() {
				localIsDir = true
			}
			if len(remotes) > 1 && !localIsDir {
				return usagef("%s is not an existing folder; with several sources the destination must be one", local)
			}
			pr := a.newProgress()
			defer pr.wait()
			for _, r := range remotes {
				e, err := c.Stat(cmd.Context(), r)
				if err != nil {
					return err
				}
				target := local
				if localIsDir {
					name := e.Name
					if e.Path == "/" {
						name = "nuage-root"
					}
					target = filepath.Join(local, name)
				}
				if e.IsDir {
					if !recursive {
						return usagef("%s is a folder; use -r to download it with its contents", e.Path)
					}
					if err := a.getTree(cmd, c, pr, e.Path, target); err != nil {
						return err
					}
					continue
				}
				if err := a.getFile(cmd, c, pr, e, target); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&recursive, "recursive", "r", false, "download folders and their contents")
	return cmd
}

func (a *app) getTree(cmd *cobra.Command, c *client.Client, pr *progress, remote, local string) error {
	if err := os.MkdirAll(local, 0o755); err != nil {
		return err
	}
	kids, err := c.List(cmd.Context(), remote)
	if err != nil {
		return err
	}
	for _, k := range kids {
		target := filepath.Join(local, k.Name)
		if k.IsDir {
			err = a.getTree(cmd, c, pr, k.Path, target)
		} else {
			err = a.getFile(cmd, c, pr, k, target)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// getFile downloads e into a temporary file beside local and renames it
// into place only after the whole file authenticated.
func (a *app) getFile(cmd *cobra.Command, c *client.Client, pr *progress, e client.Entry, local string) error {
	dir := filepath.Dir(local)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(local)+".nuage-*")
	if err != nil {
		return fmt.Errorf("create download file: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	report, done := pr.bar(e.Name, e.Size)
	start := time.Now()
	_, err = c.Get(cmd.Context(), e.Path, tmp, report)
	done(err == nil)
	if err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	mode := e.Mode.Perm()
	if mode == 0 {
		mode = 0o644
	}
	if err := os.Chmod(tmp.Name(), mode); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), local); err != nil {
		return err
	}
	ok = true
	if !e.ModTime.IsZero() {
		_ = os.Chtimes(local, e.ModTime, e.ModTime)
	}
	a.infof("fetched %s (%s) in %s\n", e.Path, humanize.IBytes(uint64(e.Size)), rate(e.Size, time.Since(start)))
	return nil
}

func (a *app) catCommand() *cobra.Command {
	var rng string
	cmd := &cobra.Command{
		Use:     "cat PATH",
		GroupID: "files",
		Short:   "Write a file (or a byte range of it) to standard output",
		Long: `Stream a file to standard output. With --range A-B only bytes A to B
(inclusive, 0-based) are fetched and decrypted; A- reads from A to the end.
Each 64 KiB block is authenticated before it is written; on an error the
output stops and nuage exits non-zero.`,
		Example: `  nuage cat /notes.txt
  nuage cat --range 1048576-2097151 /big.bin > part`,
		Args: exactArgs(1, "PATH"),
		RunE: func(cmd *cobra.Command, args []string) error {
			off, n, err := parseRange(rng)
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			defer c.Close()
			_, err = c.ReadRange(cmd.Context(), args[0], off, n, a.stdout, nil)
			return err
		},
	}
	cmd.Flags().StringVar(&rng, "range", "", "byte range A-B (inclusive) or A-")
	return cmd
}

// parseRange parses "A-B" (inclusive) or "A-" into an offset and length (-1: to the end).
func parseRange(s string) (int64, int64, error) {
	if s == "" {
		return 0, -1, nil
	}
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return 0, 0, usagef("--range %q: want A-B or A-", s)
	}
	off, err := strconv.ParseInt(a, 10, 64)
	if err != nil || off < 0 {
		return 0, 0, usagef("--range %q: bad start", s)
	}
	if b == "" {
		return off, -1, nil
	}
	end, err := strconv.ParseInt(b, 10, 64)
	if err != nil || end < off {
		return 0, 0, usagef("--range %q: bad end (must be ≥ start)", s)
	}
	return off, end - off + 1, nil
}

type jsonEntry struct {
	Path    string    `json:"path"`
	Name    string    `json:"name"`
	Type    string    `json:"type"`
	Size    int64     `json:"size"`
	ModTime time.Time `json:"mtime"`
	Mode    string    `json:"mode"`
	ID      string    `json:"id"`
}

func toJSON(e client.Entry) jsonEntry {
	t := "file"
	if e.IsDir {
		t = "folder"
	}
	return jsonEntry{Path: e.Path, Name: e.Name, Type: t, Size: e.Size, ModTime: e.ModTime, Mode: e.Mode.String(), ID: e.ID}
}

func (a *app) lsCommand() *cobra.Command {
	var long, asJSON bool
	cmd := &cobra.Command{
		Use:     "ls [PATH]",
		GroupID: "files",
		Short:   "List a folder",
		Long:    `List a folder (default /). Names are decrypted here; the coordinator never sees them.`,
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p := "/"
			if len(args) == 1 {
				p = args[0]
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			defer c.Close()
			es, err := c.List(cmd.Context(), p)
			if err != nil {
				return err
			}
			if asJSON {
				out := make([]jsonEntry, len(es))
				for i, e := range es {
					out[i] = toJSON(e)
				}
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(out)
			}
			if !long {
				for _, e := range es {
					name := e.Name
					if e.IsDir {
						name += "/"
					}
					fmt.Fprintln(a.stdout, name)
				}
				return nil
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
			for _, e := range es {
				name := e.Name
				if e.IsDir {
					name += "/"
				}
				size := humanize.IBytes(uint64(e.Size))
				if e.IsDir {
					size = "-"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t %s\n", e.Mode, size, e.ModTime.Local().Format("2006-01-02 15:04"), name)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVarP(&long, "long", "l", false, "show mode, size and modification time")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func (a *app) statCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "stat PATH",
		GroupID: "files",
		Short:   "Show a file's or folder's details",
		Args:    exactArgs(1, "PATH"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			defer c.Close()
			e, err := c.Stat(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(a.stdout).Encode(toJSON(e))
			}
			j := toJSON(e)
			fmt.Fprintf(a.stdout, "path:  %s\ntype:  %s\nsize:  %s (%d bytes)\nmtime: %s\nmode:  %s\nid:    %s\n",
				j.Path, j.Type, humanize.IBytes(uint64(e.Size)), e.Size, e.ModTime.Local().Format(time.RFC3339), j.Mode, j.ID)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func (a *app) mkdirCommand() *cobra.Command {
	var parents bool
	cmd := &cobra.Command{
		Use:     "mkdir PATH...",
		GroupID: "files",
		Short:   "Create folders",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			defer c.Close()
			for _, p := range args {
				if _, err := c.Mkdir(cmd.Context(), p, parents); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&parents, "parents", "p", false, "create missing parents; accept existing folders")
	return cmd
}

func (a *app) rmCommand() *cobra.Command {
	var recursive bool
	cmd := &cobra.Command{
		Use:     "rm PATH...",
		GroupID: "files",
		Short:   "Delete files and folders and free their storage",
		Long:    `Delete files (and with -r folders with their contents). The pieces are deleted from the storage nodes in the background.`,
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			defer c.Close()
			for _, p := range args {
				if err := c.Remove(cmd.Context(), p, recursive); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&recursive, "recursive", "r", false, "remove folders with everything inside")
	return cmd
}
