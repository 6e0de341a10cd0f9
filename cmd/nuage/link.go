package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/nuage-storage/nuage/client"
)

// errNoLinkPassword is returned when a link has a password and there is no
// way to ask for it.
var errNoLinkPassword = errors.New("the link has a password and standard input is not a terminal")

// minLinkIDPrefix is the shortest link ID prefix `link revoke` accepts.
const minLinkIDPrefix = 6

// shortLinkID is how many hex digits of a link ID `link ls` shows.
const shortLinkID = 8

// isLinkArg reports whether a command argument is meant as a link URL
// rather than a remote path (which always starts with /). Any http(s) URL
// counts, so that a damaged or truncated link is reported as such by
// client.OpenLink instead of as a bad path.
func isLinkArg(s string) bool {
	if client.IsLinkURL(s) {
		return true
	}
	l := strings.ToLower(s)
	return strings.HasPrefix(l, "http://") || strings.HasPrefix(l, "https://")
}

// linkLabel is a link URL without its key (the fragment): what may be
// written to disk or shown.
func linkLabel(rawURL string) string {
	u, _, _ := strings.Cut(rawURL, "#")
	return u
}

// parseExpire parses --expire: a Go duration (12h, 30m, 1h30m) or a whole
// number of days (7d). It must be positive.
func parseExpire(s string) (time.Duration, error) {
	bad := func() (time.Duration, error) {
		return 0, usagef("--expire %q: want a positive duration such as 7d, 12h or 30m", s)
	}
	var d time.Duration
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseInt(days, 10, 64)
		if err != nil {
			return bad()
		}
		if n > math.MaxInt64/int64(24*time.Hour) {
			return 0, usagef("--expire %q: too far in the future", s)
		}
		d = time.Duration(n) * 24 * time.Hour
	} else {
		var err error
		if d, err = time.ParseDuration(s); err != nil {
			return bad()
		}
	}
	if d <= 0 {
		return 0, usagef("--expire %q: the link must stay valid for some time (want > 0)", s)
	}
	return d, nil
}

// jsonLink is the --json form of a link.
type jsonLink struct {
	ID           string    `json:"id"`
	URL          string    `json:"url"`
	Path         string    `json:"path"` // "" if the target was deleted
	Kind         string    `json:"kind"`
	Created      time.Time `json:"created"`
	Expires      time.Time `json:"expires,omitzero"`
	Revoked      time.Time `json:"revoked,omitzero"`
	MaxDownloads int64     `json:"max_downloads"` // 0: no limit
	Downloads    int64     `json:"downloads"`
	Password     bool      `json:"password"`
	State        string    `json:"state"`
}

func toJSONLink(l client.Link, now time.Time) jsonLink {
	return jsonLink{ID: l.ID, URL: l.URL, Path: l.Path, Kind: l.Kind, Created: l.Created, Expires: l.Expires,
		Revoked: l.Revoked, MaxDownloads: l.MaxDownloads, Downloads: l.Downloads, Password: l.Password,
		State: l.State(now)}
}

func (a *app) linkCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "link",
		GroupID: "sharing",
		Short:   "Share a file or folder with anyone, by a link that carries its key",
		Long: `A link gives whoever holds it read access to one file or folder (and
everything in it), without an account: nuage get URL, nuage ls URL or
nuage cat URL. The key is in the part of the URL after #, which is never
sent to the coordinator: the coordinator cannot read what a link shares.

A link can expire, be limited to a number of downloads, need a password,
and be revoked. Revoking a link also gives the shared file or folder new
keys, so the link's key opens nothing written afterwards.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown link command %q (want create, ls or revoke)", args[0])
			}
			return usagef("link needs a command: create, ls or revoke")
		},
		RunE: func(*cobra.Command, []string) error { return nil },
	}
	cmd.AddCommand(a.linkCreateCommand(), a.linkListCommand(), a.linkRevokeCommand())
	return cmd
}

func (a *app) linkCreateCommand() *cobra.Command {
	var (
		expire       string
		password     bool
		maxDownloads int64
		asJSON       bool
	)
	cmd := &cobra.Command{
		Use:   "create PATH",
		Short: "Create a link to a file or folder and print its URL",
		Long: `Create a link to PATH and print its URL (alone, on standard output). Anyone
with the URL can read PATH, and everything in it for a folder, until the
link expires or is revoked: send it only to whom it is for.

--expire ends the link after a duration (7d, 12h, 30m). --max-downloads N
lets it be fetched N times (listing a folder link does not count).
--password also requires a password, asked twice, or NUAGE_LINK_PASSWORD:
send it by another channel than the URL.`,
		Example: `  nuage link create /photos/beach.jpg
  nuage link create --expire 7d --max-downloads 3 /reports/2026.pdf
  NUAGE_LINK_PASSWORD=... nuage link create --password /team
  url=$(nuage link create /notes.txt)`,
		Args: exactArgs(1, "PATH"),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := client.CleanPath(args[0])
			if err != nil {
				return err
			}
			var o client.LinkOptions
			if expire != "" {
				d, err := parseExpire(expire)
				if err != nil {
					return err
				}
				o.Expires = time.Now().Add(d)
			}
			if cmd.Flags().Changed("max-downloads") && maxDownloads < 1 {
				return usagef("--max-downloads %d: want at least 1 (leave it out for no limit)", maxDownloads)
			}
			o.MaxDownloads = maxDownloads
			c, err := a.client()
			if err != nil {
				return err
			}
			defer c.Close()
			if password {
				if o.Password, err = a.newLinkPassword(); err != nil {
					return err
				}
				defer clear(o.Password)
			}
			l, err := c.CreateLink(cmd.Context(), p, o)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(a.stdout, toJSONLink(l, time.Now()))
			}
			fmt.Fprintln(a.stdout, l.URL)
			a.printLinkDetails(l)
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&expire, "expire", "", "end the link after this long (e.g. 7d, 12h, 30m; default: never)")
	f.BoolVar(&password, "password", false, "require a password too (asked, or NUAGE_LINK_PASSWORD)")
	f.Int64Var(&maxDownloads, "max-downloads", 0, "allow at most N downloads (default: no limit)")
	f.BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// printLinkDetails tells, on stderr, what a new link gives and to whom.
func (a *app) printLinkDetails(l client.Link) {
	what := l.Path
	if l.Kind == "folder" {
		what += " and everything in it"
	}
	expires := "never"
	if !l.Expires.IsZero() {
		expires = l.Expires.Local().Format("2006-01-02 15:04:05")
	}
	limit := "no limit"
	if l.MaxDownloads > 0 {
		limit = "at most " + plural(l.MaxDownloads, "download")
	}
	pw := "no"
	if l.Password {
		pw = "yes (send it by another channel than the link)"
	}
	a.infof("Link %s to %s (%s)\n  expires:    %s\n  downloads:  %s\n  password:   %s\n"+
		"Anyone with this link can read %s; the key is after #, never sent to the server.\n"+
		"Revoke it with: nuage link revoke %s\n",
		shortID(l.ID), l.Path, l.Kind, expires, limit, pw, what, shortID(l.ID))
}

func shortID(id string) string {
	if len(id) > shortLinkID {
		return id[:shortLinkID]
	}
	return id
}

func (a *app) linkListCommand() *cobra.Command {
	var asJSON, urls bool
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List your links and their state",
		Long: `List the links of the account: ID (its first digits), path, kind, when it was
created and expires, downloads (and the limit), and its state: active,
expired, revoked, exhausted (download limit reached) or gone (its target was
deleted). URLs are shown only with --urls or --json.`,
		Example: `  nuage link ls
  nuage link ls --urls
  nuage link ls --json | jq -r '.[] | select(.state == "active") | .url'`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			defer c.Close()
			ls, err := c.Links(cmd.Context())
			if err != nil {
				return err
			}
			now := time.Now()
			if asJSON {
				out := make([]jsonLink, len(ls))
				for i, l := range ls {
					out[i] = toJSONLink(l, now)
				}
				return writeJSON(a.stdout, out)
			}
			if len(ls) == 0 {
				a.infof("No links. Create one with `nuage link create PATH`.\n")
				return nil
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			head := "ID\tPATH\tKIND\tCREATED\tEXPIRES\tDOWNLOADS\tSTATE"
			if urls {
				head += "\tURL"
			}
			fmt.Fprintln(tw, head)
			for _, l := range ls {
				p := l.Path
				if p == "" {
					p = "(deleted)"
				}
				expires := "never"
				if !l.Expires.IsZero() {
					expires = l.Expires.Local().Format("2006-01-02 15:04")
				}
				downloads := strconv.FormatInt(l.Downloads, 10)
				if l.MaxDownloads > 0 {
					downloads += "/" + strconv.FormatInt(l.MaxDownloads, 10)
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s", shortID(l.ID), p, l.Kind,
					l.Created.Local().Format("2006-01-02 15:04"), expires, downloads, l.State(now))
				if urls {
					fmt.Fprintf(tw, "\t%s", l.URL)
				}
				fmt.Fprintln(tw)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (with the URLs)")
	cmd.Flags().BoolVar(&urls, "urls", false, "show the URLs too")
	return cmd
}

func (a *app) linkRevokeCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "revoke ID|URL",
		Short: "Revoke a link: it stops working, and its target gets new keys",
		Long: `Revoke a link, named by its URL, its ID, or the first digits of its ID (at
least 6, as nuage link ls shows them). The link stops working at once.

The shared file or folder also gets new keys (and the other links and
shares of it are updated), so the link's key opens nothing written from now
on. Whoever already fetched it keeps their copy.`,
		Example: `  nuage link revoke 3f2a91bc
  nuage link revoke 'https://nuage.example.org/l/3f2a…#AQ…'`,
		Args: exactArgs(1, "ID|URL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			defer c.Close()
			ctx := cmd.Context()
			id := args[0]
			if !isLinkArg(id) {
				if id, err = resolveLinkID(ctx, c, id); err != nil {
					return err
				}
			}
			l, err := c.RevokeLink(ctx, id)
			if err != nil {
				return err
			}
			if l.Path == "" {
				a.infof("Revoked link %s (its target no longer exists).\n", shortID(l.ID))
				return nil
			}
			a.infof("Revoked link %s to %s. The keys of %s were rotated: the link's key opens nothing written from now on.\n",
				shortID(l.ID), l.Path, l.Path)
			return nil
		},
	}
}

// resolveLinkID returns the full ID of the link whose ID is s or starts
// with s (at least minLinkIDPrefix hex digits, unique among the links).
func resolveLinkID(ctx context.Context, c *client.Client, s string) (string, error) {
	s = strings.ToLower(s)
	if len(s) < minLinkIDPrefix || len(s) > 32 || strings.Trim(s, "0123456789abcdef") != "" {
		return "", usagef("%q is not a link ID: want the link's URL, or at least %d hex digits of its ID (see nuage link ls)", s, minLinkIDPrefix)
	}
	if len(s) == 32 {
		return s, nil
	}
	ls, err := c.Links(ctx)
	if err != nil {
		return "", err
	}
	return matchLinkID(ls, s)
}

// matchLinkID returns the ID of the one link in ls whose ID starts with prefix.
func matchLinkID(ls []client.Link, prefix string) (string, error) {
	var match []string
	for _, l := range ls {
		if strings.HasPrefix(l.ID, prefix) {
			match = append(match, l.ID)
		}
	}
	switch len(match) {
	case 0:
		return "", hintErr(fmt.Errorf("no link with an ID starting with %s: %w", prefix, client.ErrNotFound), "list the links with `nuage link ls`")
	case 1:
		return match[0], nil
	}
	return "", usagef("%s is the start of %d link IDs (%s): give more digits", prefix, len(match), strings.Join(match, ", "))
}

// openLink opens a link URL: no account or session is needed. download
// counts the opening as one of the link's downloads.
func (a *app) openLink(ctx context.Context, rawURL string, download bool) (*client.Client, client.Entry, error) {
	lo := client.LinkOpenOptions{Password: a.linkPassword, Download: download}
	// A link client has no account: no journal state to keep.
	c, e, err := client.OpenLink(ctx, rawURL, lo, &client.Options{Logger: a.logger()})
	if err != nil {
		if h := linkHint(err); h != "" {
			err = hintErr(err, h)
		}
		return nil, client.Entry{}, err
	}
	return c, e, nil
}

// linkHint says what to do about an error opening a link.
func linkHint(err error) string {
	switch {
	case errors.Is(err, client.ErrBadLink):
		return "the link is damaged or incomplete: copy it whole, with the part after #, and quote it in the shell"
	case errors.Is(err, client.ErrLinkPassword):
		return "check the link's password (NUAGE_LINK_PASSWORD); wrong tries are limited per minute"
	case errors.Is(err, client.ErrLinkRevoked):
		return "its owner revoked the link; ask them for a new one"
	case errors.Is(err, client.ErrLinkExpired):
		return "the link expired; ask its owner for a new one"
	case errors.Is(err, client.ErrLinkExhausted):
		return "the link's download limit is reached; ask its owner for a new link"
	case errors.Is(err, client.ErrLinkGone):
		return "what the link shared was deleted by its owner"
	}
	return ""
}

// linkPassword returns the password of a link being opened: from
// NUAGE_LINK_PASSWORD, or a no-echo prompt.
func (a *app) linkPassword() ([]byte, error) {
	if pw := os.Getenv("NUAGE_LINK_PASSWORD"); pw != "" {
		return []byte(pw), nil
	}
	return a.promptLinkPassword(false)
}

// newLinkPassword returns the password of a link being created: from
// NUAGE_LINK_PASSWORD, or asked twice without echo.
func (a *app) newLinkPassword() ([]byte, error) {
	if pw := os.Getenv("NUAGE_LINK_PASSWORD"); pw != "" {
		return []byte(pw), nil
	}
	return a.promptLinkPassword(true)
}

func (a *app) promptLinkPassword(confirm bool) ([]byte, error) {
	f, ok := a.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil, hintErr(errNoLinkPassword, "set NUAGE_LINK_PASSWORD to the link's password")
	}
	read := func(prompt string) ([]byte, error) {
		fmt.Fprint(a.stderr, prompt)
		pw, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(a.stderr)
		if err != nil {
			return nil, fmt.Errorf("read the link password: %w", err)
		}
		return pw, nil
	}
	pw, err := read("Link password: ")
	if err != nil {
		return nil, err
	}
	if len(pw) == 0 {
		return nil, errors.New("empty link password")
	}
	if confirm {
		again, err := read("Link password (again): ")
		if err != nil {
			return nil, err
		}
		defer clear(again)
		if string(again) != string(pw) {
			clear(pw)
			return nil, errors.New("the link passwords do not match")
		}
	}
	return pw, nil
}

// getLink fetches what a link shares to local (cp semantics: into local
// if it is an existing folder).
func (a *app) getLink(ctx context.Context, rawURL, local string, jobs int) error {
	c, e, err := a.openLink(ctx, rawURL, true)
	if err != nil {
		return err
	}
	defer c.Close()
	name := e.Name
	if name == "" { // a link to an account's root folder
		name = "nuage-link"
	}
	return a.get(ctx, c, []string{"/"}, local, getOptions{recursive: true, jobs: jobs,
		link: &linkSource{name: name, label: linkLabel(rawURL)}})
}

// fileClient returns the client a file command reads with, and the
// cleaned remote path of its arguments (default /): a link's client
// (read-only; "/" is the link's target) and the path in the link if the
// first argument is a link URL, else the account's client and its PATH.
func (a *app) fileClient(ctx context.Context, args []string, download bool) (*client.Client, string, error) {
	link := len(args) > 0 && isLinkArg(args[0])
	rest := args
	if link {
		rest = args[1:]
	}
	p, err := pathOrRoot(rest)
	if err != nil {
		return nil, "", err
	}
	var c *client.Client
	if link {
		c, _, err = a.openLink(ctx, args[0], download)
	} else {
		c, err = a.client()
	}
	return c, p, err
}

// linkOrPathArgs accepts [PATH], or a link URL and an optional path in it.
func linkOrPathArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 && isLinkArg(args[0]) {
		if len(args) > 2 {
			return usagef("%s takes a link URL and at most one PATH in it (got %d arguments)", cmd.Name(), len(args))
		}
		return nil
	}
	return optionalPathArg(cmd, args)
}
