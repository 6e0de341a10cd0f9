package main

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/nuage-storage/nuage/client"
)

// Share levels, as the commands show them.
const (
	levelRead      = "read"
	levelReadWrite = "read-write"
)

func level(write bool) string {
	if write {
		return levelReadWrite
	}
	return levelRead
}

// normEmail is an e-mail address as the coordinator compares them.
func normEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// jsonShare is the --json form of a share the account made.
type jsonShare struct {
	ID      string    `json:"id"`
	Path    string    `json:"path"`
	Email   string    `json:"email"`
	Level   string    `json:"level"`
	Write   bool      `json:"write"`
	Created time.Time `json:"created"`
}

// jsonIncoming is the --json form of a share made to the account.
type jsonIncoming struct {
	ID      string    `json:"id"`
	Owner   string    `json:"owner"`
	Name    string    `json:"name"`
	Path    string    `json:"path"`
	Level   string    `json:"level"`
	Write   bool      `json:"write"`
	Created time.Time `json:"created"`
	Error   string    `json:"error,omitempty"` // why it cannot be opened
}

func (a *app) shareCommand() *cobra.Command {
	var write bool
	cmd := &cobra.Command{
		Use:     "share PATH EMAIL",
		GroupID: "sharing",
		Short:   "Share a folder with another account, read-only or read-write",
		Long: `Share the folder PATH with the account EMAIL: they see it as
/shared/YOUR-EMAIL/NAME (nuage shared ls), read-only, or with --write also
able to add, change and delete files in it. The folder's key is sealed to
their public key and signed with yours: the coordinator cannot read it.

Sharing again sets the level: with --write a read-only share becomes
read-write, without it a read-write share becomes read-only. The first time you share with someone, nuage pins their keys and prints their
fingerprint: compare it with theirs (nuage whoami) by another channel, then
run nuage contact verify EMAIL.

nuage share revoke PATH EMAIL ends a share and gives the folder new keys.`,
		Example: `  nuage share /team bob@example.org
  nuage share --write /team bob@example.org
  nuage share ls
  nuage share revoke /team bob@example.org`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) != 2 {
				return usagef("share takes PATH EMAIL, or a command: ls or revoke (got %d arguments)", len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := client.CleanPath(args[0])
			if err != nil {
				return err
			}
			email := args[1]
			c, err := a.client()
			if err != nil {
				return err
			}
			defer c.Close()
			ctx := cmd.Context()
			ct, err := c.Contact(ctx, email)
			if err != nil {
				return withContact(err, email)
			}
			prev, err := c.Shares(ctx)
			if err != nil {
				return err
			}
			existed, wasWrite := false, false
			for _, s := range prev {
				if s.Path == p && normEmail(s.Email) == normEmail(ct.Email) {
					existed, wasWrite = true, s.Write
				}
			}
			s, err := c.ShareFolder(ctx, p, email, write)
			if err != nil {
				return withContact(err, email)
			}
			switch {
			case existed && wasWrite == s.Write:
				a.infof("%s is already shared %s with %s.\n", s.Path, level(s.Write), s.Email)
			case existed:
				a.infof("%s is now shared %s (was %s) with %s.\n", s.Path, level(s.Write), level(wasWrite), s.Email)
			default:
				a.infof("Shared %s %s with %s; they see it as %s.\n", s.Path, level(s.Write), s.Email,
					path.Join("/shared", c.Email(), path.Base(s.Path)))
			}
			if !ct.Pinned {
				// Not hidden by -q: it is what makes the share safe.
				fmt.Fprintf(a.stderr, "First share with %s: their fingerprint is\n    %s\n"+
					"Compare it, by another channel than nuage (in person, by phone), with what\n"+
					"they see with `nuage whoami`; if it is the same, run: nuage contact verify %s\n",
					s.Email, ct.Fingerprint, s.Email)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&write, "write", false, "let them add, change and delete files too (default: read-only)")
	cmd.AddCommand(a.shareListCommand(), a.shareRevokeCommand(), a.shareRotateCommand())
	return cmd
}

func (a *app) shareListCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List the folders you share and with whom",
		Args:    noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			defer c.Close()
			ss, err := c.Shares(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				out := make([]jsonShare, len(ss))
				for i, s := range ss {
					out[i] = jsonShare{ID: s.ID, Path: s.Path, Email: s.Email, Level: level(s.Write), Write: s.Write, Created: s.Created}
				}
				return writeJSON(a.stdout, out)
			}
			if len(ss) == 0 {
				a.infof("You share no folders. Share one with `nuage share PATH EMAIL`.\n")
				return nil
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "PATH\tWITH\tLEVEL\tSINCE")
			for _, s := range ss {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Path, s.Email, level(s.Write), s.Created.Local().Format("2006-01-02 15:04"))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func (a *app) shareRevokeCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "revoke PATH EMAIL",
		Short: "Stop sharing a folder with someone; the folder gets new keys",
		Long: `Stop sharing the folder PATH with EMAIL: their access ends at once. The
folder and everything in it also get new keys (the other shares and links
of it are updated), so what they may have kept of the old keys opens
nothing written from now on. Files they already fetched stay theirs.`,
		Example: `  nuage share revoke /team bob@example.org`,
		Args:    exactArgs(2, "PATH EMAIL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := client.CleanPath(args[0])
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			defer c.Close()
			if err := c.RevokeShare(cmd.Context(), p, args[1]); err != nil {
				return err
			}
			a.infof("Stopped sharing %s with %s. The keys of %s were rotated: they can read nothing written from now on.\n", p, args[1], p)
			return nil
		},
	}
}

func (a *app) shareRotateCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "rotate PATH",
		Short: "Give a shared file or folder new keys (retry of a revocation)",
		Long: `Give the file or folder PATH and everything in it new keys, and hand them
to the shares and links of it that remain. "share revoke" and "link revoke"
do this themselves; run it when they report that the rotation failed, or
after deciding that someone who had access may have kept the keys.`,
		Example: `  nuage share rotate /team`,
		Args:    exactArgs(1, "PATH"),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := client.CleanPath(args[0])
			if err != nil {
				return err
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			defer c.Close()
			if err := c.Rotate(cmd.Context(), p); err != nil {
				return err
			}
			a.infof("Rotated the keys of %s: old keys open nothing written from now on.\n", p)
			return nil
		},
	}
}

func (a *app) sharedCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "shared",
		GroupID: "sharing",
		Short:   "The folders others share with you",
		Long: `Folders other accounts share with you appear under /shared/OWNER/NAME: list,
get and cat them like your own files, and, for a read-write share, put,
mkdir, mv and rm in them.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown shared command %q (want ls)", args[0])
			}
			return usagef("shared needs a command: ls")
		},
		RunE: func(*cobra.Command, []string) error { return nil },
	}
	cmd.AddCommand(a.sharedListCommand())
	return cmd
}

func (a *app) sharedListCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List the folders shared with you",
		Long: `List the folders other accounts share with you: name, owner, level (read or
read-write) and the path to use them at. A share that cannot be opened is
listed with the reason (for instance: the owner's keys changed since they
were pinned; see nuage contact).`,
		Example: `  nuage shared ls
  nuage ls /shared/alice@example.org/team`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			defer c.Close()
			in, err := c.IncomingShares(cmd.Context())
			if err != nil {
				return err
			}
			warned := map[string]bool{}
			defer func() {
				for _, s := range in {
					if errors.Is(s.Err, client.ErrKeyChanged) && !warned[s.Owner] {
						warned[s.Owner] = true
						fmt.Fprint(a.stderr, keyChangedWarning(s.Owner))
					}
				}
			}()
			if asJSON {
				out := make([]jsonIncoming, len(in))
				for i, s := range in {
					out[i] = jsonIncoming{ID: s.ID, Owner: s.Owner, Name: s.Name, Path: s.Path, Level: level(s.Write),
						Write: s.Write, Created: s.Created}
					if s.Err != nil {
						out[i].Error = s.Err.Error()
					}
				}
				return writeJSON(a.stdout, out)
			}
			if len(in) == 0 {
				a.infof("Nobody shares a folder with you yet.\n")
				return nil
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tOWNER\tLEVEL\tPATH")
			for _, s := range in {
				where := s.Path
				if s.Err != nil {
					where = "cannot be opened: " + s.Err.Error()
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", s.Name, s.Owner, level(s.Write), where)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
