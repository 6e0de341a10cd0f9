package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/nuage-storage/nuage/client"
)

func serverFlag(cmd *cobra.Command, server *string) {
	cmd.Flags().StringVar(server, "server", envDefault("NUAGE_SERVER", defaultServer), "coordinator URL (env NUAGE_SERVER)")
}

func (a *app) signupCommand() *cobra.Command {
	var server, pwFile string
	cmd := &cobra.Command{
		Use:     "signup EMAIL",
		GroupID: "account",
		Short:   "Create an account and log in",
		Long: `Create an account on the coordinator and log in.

The password is stretched with Argon2id on this machine; the coordinator
receives only a key derived from it, never the password. Your master key is
random and stored on the coordinator only wrapped under a key derived from
the password: forget the password and the data is gone.

The password comes from --password-file, NUAGE_PASSWORD, or a prompt.`,
		Example: `  nuage signup you@example.org
  NUAGE_PASSWORD=... nuage signup --server http://127.0.0.1:8080 you@example.org`,
		Args: exactArgs(1, "EMAIL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			pw, err := a.password(pwFile, true)
			if err != nil {
				return err
			}
			c, err := client.Signup(cmd.Context(), server, args[0], pw, nil, a.clientOptions())
			if err != nil {
				return err
			}
			defer c.Close()
			if err := a.saveState(c.State()); err != nil {
				return err
			}
			a.infof("Signed up and logged in as %s on %s\n", c.Email(), c.Server())
			return nil
		},
	}
	serverFlag(cmd, &server)
	cmd.Flags().StringVar(&pwFile, "password-file", "", "read the password from this file's first line")
	return cmd
}

func (a *app) loginCommand() *cobra.Command {
	var server, pwFile string
	cmd := &cobra.Command{
		Use:     "login EMAIL",
		GroupID: "account",
		Short:   "Log in to an existing account",
		Long: `Log in: derive keys from the password on this machine, prove knowledge
of it to the coordinator, and unwrap the master key. The session is saved
under --config (mode 0600); it is as sensitive as the password.`,
		Args: exactArgs(1, "EMAIL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			pw, err := a.password(pwFile, false)
			if err != nil {
				return err
			}
			c, err := client.Login(cmd.Context(), server, args[0], pw, a.clientOptions())
			if err != nil {
				return err
			}
			defer c.Close()
			if err := a.saveState(c.State()); err != nil {
				return err
			}
			a.infof("Logged in as %s on %s\n", c.Email(), c.Server())
			return nil
		},
	}
	serverFlag(cmd, &server)
	cmd.Flags().StringVar(&pwFile, "password-file", "", "read the password from this file's first line")
	return cmd
}

func (a *app) logoutCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "logout",
		GroupID: "account",
		Short:   "End the session and forget its keys on this machine",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := a.statePath()
			if err != nil {
				return err
			}
			c, cerr := a.client()
			if cerr == nil {
				if err := c.Logout(cmd.Context()); err != nil {
					a.infof("warning: the coordinator did not confirm the logout: %v\n", err)
				}
				c.Close()
			}
			if err := os.Remove(p); err != nil {
				if errors.Is(err, os.ErrNotExist) {
					return hintErr(errNotLoggedIn, "nothing to do")
				}
				return err
			}
			a.infof("Logged out.\n")
			return nil
		},
	}
}

func (a *app) whoamiCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "whoami",
		GroupID: "account",
		Short:   "Show the logged-in account and coordinator",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			defer c.Close()
			fmt.Fprintf(a.stdout, "%s on %s\n", c.Email(), c.Server())
			return nil
		},
	}
}

// exactArgs is cobra.ExactArgs with a message naming the arguments.
func exactArgs(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return usagef("%s takes %s (got %d arguments)", cmd.Name(), names, len(args))
		}
		return nil
	}
}
