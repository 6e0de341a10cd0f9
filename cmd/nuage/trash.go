package main

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

// jsonTrashItem is the --json form of an item in the trash.
type jsonTrashItem struct {
	ID      string    `json:"id"`
	Path    string    `json:"path"` // where it was
	Name    string    `json:"name"`
	Type    string    `json:"type"`
	Size    int64     `json:"size"`
	Trashed time.Time `json:"trashed"`
}

func (a *app) trashCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "trash",
		GroupID: "files",
		Short:   "List, restore or empty the trash",
		Long: `nuage rm moves files and folders to the trash. They keep using storage
until the trash is emptied.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown trash command %q (want ls, restore or empty)", args[0])
			}
			return usagef("trash needs a command: ls, restore or empty")
		},
		RunE: func(*cobra.Command, []string) error { return nil },
	}
	cmd.AddCommand(a.trashLsCommand(), a.trashRestoreCommand(), a.trashEmptyCommand())
	return cmd
}

func (a *app) trashLsCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List the trash",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			defer c.Close()
			items, err := c.Trash(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				out := make([]jsonTrashItem, len(items))
				for i, it := range items {
					t := "file"
					if it.IsDir {
						t = "folder"
					}
					out[i] = jsonTrashItem{ID: it.ID, Path: it.Path, Name: it.Name, Type: t, Size: it.Size, Trashed: it.Trashed}
				}
				return writeJSON(a.stdout, out)
			}
			if len(items) == 0 {
				a.infof("the trash is empty\n")
				return nil
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tTRASHED\tSIZE\tPATH")
			for _, it := range items {
				p := it.Path
				if it.IsDir {
					p += "/"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", it.ID, it.Trashed.Local().Format("2006-01-02 15:04"), sizeOf(it.Size), p)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func (a *app) trashRestoreCommand() *cobra.Command {
	var overwrite bool
	cmd := &cobra.Command{
		Use:   "restore PATH|ID...",
		Short: "Put items back where they were",
		Long: `Put items from the trash back where they were, naming them by their
original path or by the ID nuage trash ls shows. Missing parent folders are
created again. A name taken meanwhile is an error; with --overwrite the file
there is replaced and moved to the trash.`,
		Example: `  nuage trash restore /notes.txt
  nuage trash restore 5f0c…`,
		Args: minArgs("PATH|ID..."),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			defer c.Close()
			for _, p := range args {
				e, err := c.Restore(cmd.Context(), p, overwrite)
				if err != nil {
					return err
				}
				a.infof("restored %s\n", e.Path)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&overwrite, "overwrite", false, "replace an existing file (it goes to the trash)")
	return cmd
}

func (a *app) trashEmptyCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "empty",
		Short: "Delete everything in the trash permanently and free its storage",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			defer c.Close()
			ctx := cmd.Context()
			before, qerr := c.Quota(ctx)
			n, err := c.EmptyTrash(ctx)
			if err != nil {
				return err
			}
			freed := ""
			if after, err := c.Quota(ctx); err == nil && qerr == nil && before.Used > after.Used {
				freed = fmt.Sprintf("; freed %s", sizeOf(before.Used-after.Used))
			}
			a.infof("deleted %s permanently%s\n", plural(int64(n), "item"), freed)
			return nil
		},
	}
}
