package main

import (
	"encoding/json"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/nuage-storage/nuage/client"
)

func (a *app) catCommand() *cobra.Command {
	var rng string
	cmd := &cobra.Command{
		Use:     "cat PATH | cat URL [PATH-IN-LINK]",
		GroupID: "files",
		Short:   "Write a file (or a byte range of it) to standard output",
		Long: `Stream a file to standard output. With --range A-B only bytes A to B
(inclusive, 0-based) are fetched and decrypted; A- reads from A to the end.
Each 64 KiB block is authenticated before it is written; on an error the
output stops and nuage exits non-zero.

With a link URL (no account needed) the link's file is written, or, for a
folder link, the file at PATH-IN-LINK inside it (/ is the shared folder).`,
		Example: `  nuage cat /notes.txt
  nuage cat --range 1048576-2097151 /big.bin > part
  nuage cat 'https://nuage.example.org/l/0123…#AQ…' | less
  nuage cat 'https://nuage.example.org/l/0123…#AQ…' /minutes/june.txt`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 && isLinkArg(args[0]) {
				return linkOrPathArgs(cmd, args)
			}
			return exactArgs(1, "PATH")(cmd, args)
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			off, n, err := parseRange(rng)
			if err != nil {
				return err
			}
			c, p, err := a.fileClient(cmd.Context(), args, true)
			if err != nil {
				return err
			}
			defer c.Close()
			_, err = c.ReadRange(cmd.Context(), p, off, n, a.stdout, nil)
			return stdoutFolderError(err, args, p)
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
	if err != nil || end < off || end == 1<<63-1 {
		return 0, 0, usagef("--range %q: bad end (must be ≥ start)", s)
	}
	return off, end - off + 1, nil
}

// jsonEntry is the --json form of a file or folder.
type jsonEntry struct {
	Path     string    `json:"path"`
	Name     string    `json:"name"`
	Type     string    `json:"type"` // "file" or "folder"
	Size     int64     `json:"size"`
	ModTime  time.Time `json:"mtime"`
	Mode     string    `json:"mode"`
	ID       string    `json:"id"`
	Versions int       `json:"versions"` // older versions kept
	Inline   bool      `json:"inline"`
}

func toJSON(e client.Entry) jsonEntry {
	t := "file"
	if e.IsDir {
		t = "folder"
	}
	return jsonEntry{Path: e.Path, Name: e.Name, Type: t, Size: e.Size, ModTime: e.ModTime, Mode: e.Mode.String(),
		ID: e.ID, Versions: e.Versions, Inline: e.Inline}
}

// writeJSON prints v as indented JSON.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func displayName(e client.Entry) string {
	if e.IsDir {
		return e.Name + "/"
	}
	return e.Name
}

// longList prints entries as ls -l does.
func longList(w io.Writer, es []client.Entry) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	for _, e := range es {
		size := sizeOf(e.Size)
		if e.IsDir {
			size = "-"
		}
		name := displayName(e)
		if e.Versions > 0 {
			name += fmt.Sprintf("  (+%d versions)", e.Versions)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t %s\n", e.Mode, size, e.ModTime.Local().Format("2006-01-02 15:04"), name)
	}
	return tw.Flush()
}

func (a *app) lsCommand() *cobra.Command {
	var long, recursive, asJSON bool
	cmd := &cobra.Command{
		Use:     "ls [PATH] | ls URL [PATH-IN-LINK]",
		GroupID: "files",
		Short:   "List a folder",
		Long: `List a folder (default /). Names are decrypted here; the coordinator never
sees them. -l shows mode, size and time; -R lists every folder below PATH
too; --json prints the entries (with -R: every entry below PATH) as JSON.

Folders shared with you are under /shared/OWNER/NAME (see nuage shared ls).
With a link URL (no account needed) the link's folder is listed, or the
folder PATH-IN-LINK inside it (/ is the shared folder); a file link shows the
file. Listing does not count as a download.`,
		Example: `  nuage ls /photos
  nuage ls -lR /
  nuage ls --json /docs | jq '.[].name'
  nuage ls -l /shared/alice@example.org/team
  nuage ls -R 'https://nuage.example.org/l/0123…#AQ…'`,
		Args: linkOrPathArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, p, err := a.fileClient(cmd.Context(), args, false)
			if err != nil {
				return err
			}
			defer c.Close()
			ctx := cmd.Context()
			if !recursive {
				es, err := c.List(ctx, p)
				if err != nil {
					return err
				}
				return a.printList(es, long, asJSON)
			}
			// Walk visits p, then everything below it depth-first,
			// folders before their contents.
			var (
				order []string // folders, in walk order
				kids  = map[string][]client.Entry{}
				all   []client.Entry
				self  client.Entry
			)
			err = c.Walk(ctx, p, func(e client.Entry) error {
				if e.Path == p {
					self = e
				} else {
					parent := path.Dir(e.Path)
					kids[parent] = append(kids[parent], e)
					all = append(all, e)
				}
				if e.IsDir {
					order = append(order, e.Path)
				}
				return nil
			})
			if err != nil {
				return err
			}
			if !self.IsDir {
				return a.printList([]client.Entry{self}, long, asJSON)
			}
			if asJSON {
				return a.printList(all, false, true)
			}
			for i, d := range order {
				if i > 0 {
					fmt.Fprintln(a.stdout)
				}
				fmt.Fprintf(a.stdout, "%s:\n", d)
				if err := a.printList(kids[d], long, false); err != nil {
					return err
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&long, "long", "l", false, "show mode, size and modification time")
	cmd.Flags().BoolVarP(&recursive, "recursive", "R", false, "list folders below PATH too")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func (a *app) printList(es []client.Entry, long, asJSON bool) error {
	if asJSON {
		out := make([]jsonEntry, len(es))
		for i, e := range es {
			out[i] = toJSON(e)
		}
		return writeJSON(a.stdout, out)
	}
	if long {
		return longList(a.stdout, es)
	}
	for _, e := range es {
		fmt.Fprintln(a.stdout, displayName(e))
	}
	return nil
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
			j := toJSON(e)
			if asJSON {
				return writeJSON(a.stdout, j)
			}
			stored := "folder"
			switch {
			case e.IsDir:
			case e.Inline:
				stored = "inline (inside the encrypted metadata)"
			default:
				stored = "object " + e.Object
			}
			fmt.Fprintf(a.stdout, "path:     %s\ntype:     %s\nsize:     %s (%d bytes)\nmtime:    %s\nmode:     %s\nid:       %s\nstored:   %s\n",
				j.Path, j.Type, sizeOf(e.Size), e.Size, e.ModTime.Local().Format(time.RFC3339), j.Mode, j.ID, stored)
			if !e.IsDir {
				fmt.Fprintf(a.stdout, "versions: %d older\n", e.Versions)
			}
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
		Example: `  nuage mkdir /photos
  nuage mkdir -p /photos/2026/summer`,
		Args: minArgs("PATH..."),
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

func (a *app) mvCommand() *cobra.Command {
	var overwrite bool
	cmd := &cobra.Command{
		Use:     "mv SRC DST",
		GroupID: "files",
		Short:   "Move or rename a file or folder (no data is re-uploaded)",
		Long: `Move or rename a file or folder. If DST is an existing folder SRC goes
inside it; otherwise DST is SRC's new path. Only encrypted metadata changes:
no file content is uploaded again. A name already taken is an error; with
--overwrite the existing file is replaced and moved to the trash. A folder
is never replaced, and never moved into itself.`,
		Example: `  nuage mv /notes.txt /archive
  nuage mv /photos/img_001.jpg /photos/beach.jpg`,
		Args: exactArgs(2, "SRC DST"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			defer c.Close()
			e, err := c.Move(cmd.Context(), args[0], args[1], overwrite)
			if err != nil {
				return err
			}
			a.infof("moved %s to %s\n", args[0], e.Path)
			return nil
		},
	}
	cmd.Flags().BoolVar(&overwrite, "overwrite", false, "replace an existing file at DST (it goes to the trash)")
	return cmd
}

func (a *app) rmCommand() *cobra.Command {
	var recursive bool
	cmd := &cobra.Command{
		Use:     "rm PATH...",
		GroupID: "files",
		Short:   "Move files and folders to the trash",
		Long: `Move files (and with -r folders with their contents) to the trash. They
keep using storage until the trash is emptied (nuage trash empty) and can be
put back with nuage trash restore.`,
		Example: `  nuage rm /old.txt
  nuage rm -r /photos/2019`,
		Args: minArgs("PATH..."),
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
				a.infof("moved %s to the trash\n", p)
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&recursive, "recursive", "r", false, "remove folders with everything inside")
	return cmd
}

// jsonVersion is the --json form of a file version.
type jsonVersion struct {
	N        int       `json:"n"`
	Size     int64     `json:"size"`
	ModTime  time.Time `json:"mtime"`
	Replaced time.Time `json:"replaced,omitzero"`
}

func (a *app) versionsCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "versions PATH",
		GroupID: "files",
		Short:   "List a file's versions",
		Long: `List the versions of a file: 0 is the current one, 1 the one it replaced,
and so on (at most 10 older versions are kept). Fetch one with
nuage get --version N.`,
		Args: exactArgs(1, "PATH"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			defer c.Close()
			vs, err := c.Versions(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if asJSON {
				out := make([]jsonVersion, len(vs))
				for i, v := range vs {
					out[i] = jsonVersion{N: v.N, Size: v.Size, ModTime: v.ModTime, Replaced: v.Replaced}
				}
				return writeJSON(a.stdout, out)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "N\tSIZE\tMODIFIED\tREPLACED")
			for _, v := range vs {
				replaced := "(current)"
				if v.N > 0 {
					replaced = v.Replaced.Local().Format("2006-01-02 15:04:05")
				}
				fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", v.N, sizeOf(v.Size), v.ModTime.Local().Format("2006-01-02 15:04:05"), replaced)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func (a *app) duCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "du [PATH]",
		GroupID: "files",
		Short:   "Show the size of a folder's contents",
		Long: `Count the files and folders below PATH (default /) and add up the sizes
of their current versions. What the account is charged for (ciphertext,
older versions and the trash included) is shown by nuage quota.`,
		Args: optionalPathArg,
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := pathOrRoot(args)
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			defer c.Close()
			du, err := c.DiskUsage(cmd.Context(), p)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.stdout, struct {
					Path    string `json:"path"`
					Bytes   int64  `json:"bytes"`
					Files   int64  `json:"files"`
					Folders int64  `json:"folders"`
				}{p, du.Bytes, du.Files, du.Folders})
			}
			fmt.Fprintf(a.stdout, "%s\t%s (%s, %s)\n", sizeOf(du.Bytes), p, plural(du.Files, "file"), plural(du.Folders, "folder"))
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func plural(n int64, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func (a *app) quotaCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "quota",
		GroupID: "files",
		Short:   "Show the storage the account uses and its quota",
		Long: `Show the bytes the account stores on the network (encrypted, all versions
and the trash included) and its quota (set by the coordinator's operator).`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			defer c.Close()
			q, err := c.Quota(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.stdout, struct {
					Used    int64 `json:"used"`
					Quota   int64 `json:"quota"` // 0: unlimited
					Files   int64 `json:"files"`
					Folders int64 `json:"folders"`
				}{q.Used, q.Quota, q.Files, q.Folders})
			}
			limit := "(no quota)"
			if q.Quota > 0 {
				limit = fmt.Sprintf("of %s (%.1f%%)", sizeOf(q.Quota), 100*float64(q.Used)/float64(q.Quota))
			}
			fmt.Fprintf(a.stdout, "used %s %s; %s, %s\n", sizeOf(q.Used), limit, plural(q.Files, "file"), plural(q.Folders, "folder"))
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// optionalPathArg accepts at most one remote PATH.
func optionalPathArg(cmd *cobra.Command, args []string) error {
	if len(args) > 1 {
		return usagef("%s takes at most one PATH (got %d arguments)", cmd.Name(), len(args))
	}
	return nil
}

// pathOrRoot returns the cleaned remote path in args, or / when there is none.
func pathOrRoot(args []string) (string, error) {
	if len(args) == 0 {
		return "/", nil
	}
	return client.CleanPath(args[0])
}

// noArgs refuses positional arguments with a usage error naming the command.
func noArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return usagef("%s takes no arguments (got %q)", cmd.CommandPath(), args)
	}
	return nil
}

// minArgs requires at least one positional argument, named by names in the error.
func minArgs(names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) == 0 {
			return usagef("%s takes %s (got no arguments)", cmd.CommandPath()[len(cmd.Root().Name())+1:], names)
		}
		return nil
	}
}
