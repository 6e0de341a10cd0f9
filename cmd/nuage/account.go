package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/nuage-storage/nuage/client"
)

// tokenLoginTimeout bounds the login a file command makes with NUAGE_TOKEN.
const tokenLoginTimeout = 2 * time.Minute

func serverFlag(cmd *cobra.Command, server *string) {
	cmd.Flags().StringVar(server, "server", envDefault("NUAGE_SERVER", defaultServer), "coordinator URL (env NUAGE_SERVER)")
}

func totpFlag(cmd *cobra.Command, code *string) {
	cmd.Flags().StringVar(code, "totp", "", "current code of your authenticator app (env NUAGE_TOTP)")
}

// accountCommands are the commands of the "account" group.
func (a *app) accountCommands() []*cobra.Command {
	return []*cobra.Command{
		a.signupCommand(), a.loginCommand(), a.logoutCommand(), a.whoamiCommand(),
		a.passwdCommand(), a.recoveryCommand(), a.twoFactorCommand(), a.tokenCommand(),
	}
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
the password: forget the password and the data is gone, unless you keep a
recovery key (nuage recovery export).

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
			if err := a.keepSession(c, "Signed up and logged in"); err != nil {
				return err
			}
			a.infof("If you forget the password, your files are lost: run `nuage recovery export` and keep the key offline.\n")
			return nil
		},
	}
	serverFlag(cmd, &server)
	cmd.Flags().StringVar(&pwFile, "password-file", "", "read the password from this file's first line")
	return cmd
}

func (a *app) loginCommand() *cobra.Command {
	var server, pwFile, code string
	cmd := &cobra.Command{
		Use:     "login EMAIL",
		GroupID: "account",
		Short:   "Log in to an existing account",
		Long: `Log in: derive keys from the password on this machine, prove knowledge
of it to the coordinator, and unwrap the master key. The session is saved
under --config (mode 0600); it is as sensitive as the password.

With two-factor login on, pass the current code of your authenticator app
with --totp or NUAGE_TOTP; on a terminal nuage asks for it when needed.`,
		Example: `  nuage login you@example.org
  NUAGE_PASSWORD=... NUAGE_TOTP=123456 nuage login you@example.org`,
		Args: exactArgs(1, "EMAIL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			pw, err := a.password(pwFile, false)
			if err != nil {
				return err
			}
			lo := &client.LoginOptions{TOTP: a.totpCode(code)}
			if a.isTerminal() {
				lo.AskTOTP = func(context.Context) (string, error) { return a.readLine("Two-factor code: ") }
			}
			c, err := client.Login(cmd.Context(), server, args[0], pw, lo, a.clientOptions())
			if err != nil {
				return err
			}
			return a.keepSession(c, "Logged in")
		},
	}
	serverFlag(cmd, &server)
	cmd.Flags().StringVar(&pwFile, "password-file", "", "read the password from this file's first line")
	totpFlag(cmd, &code)
	return cmd
}

func (a *app) logoutCommand() *cobra.Command {
	return &cobra.Command{
		Use:     "logout",
		GroupID: "account",
		Short:   "End the session and forget its keys on this machine",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if os.Getenv("NUAGE_TOKEN") != "" {
				return usagef("NUAGE_TOKEN is set: an API-token session ends with each command")
			}
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
		Short:   "Show the logged-in account, its coordinator and its security settings",
		Long: `Show the account's e-mail, the coordinator, the account's fingerprint (of its
public key: compare it with the one a person sharing with you sees), whether
two-factor login is on, and how this session was opened (password or API token).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			defer c.Close()
			info, err := c.AccountInfo(cmd.Context())
			if err != nil {
				return err
			}
			twoFA := "off"
			if info.TOTP {
				twoFA = "on"
			}
			session := "password"
			if id := c.TokenID(); id != "" {
				session = "API token " + id
			}
			fmt.Fprintf(a.stdout, "email:        %s\n", c.Email())
			fmt.Fprintf(a.stdout, "server:       %s\n", c.Server())
			fmt.Fprintf(a.stdout, "account:      %s\n", info.Account)
			fmt.Fprintf(a.stdout, "fingerprint:  %s\n", c.Fingerprint())
			fmt.Fprintf(a.stdout, "two-factor:   %s\n", twoFA)
			fmt.Fprintf(a.stdout, "session:      %s\n", session)
			return nil
		},
	}
}

func (a *app) passwdCommand() *cobra.Command {
	var pwFile, newPwFile string
	cmd := &cobra.Command{
		Use:     "passwd",
		GroupID: "account",
		Short:   "Change the password",
		Long: `Change the password. nuage proves the current password to the coordinator,
derives new keys from the new one with fresh Argon2id parameters, and rewraps
only the master key: no file is touched, sessions stay logged in, and API
tokens and the recovery key keep working. A wrong current password changes
nothing.

The current password comes from --password-file, NUAGE_PASSWORD or a prompt;
the new one from --new-password-file, NUAGE_NEW_PASSWORD or a prompt.`,
		Example: `  nuage passwd
  NUAGE_PASSWORD=old NUAGE_NEW_PASSWORD=new nuage passwd`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			defer c.Close()
			current, err := a.secret(pwFile, "NUAGE_PASSWORD", "Current password: ", false)
			if err != nil {
				return err
			}
			next, err := a.secret(newPwFile, "NUAGE_NEW_PASSWORD", "New password: ", true)
			if err != nil {
				return err
			}
			if string(current) == string(next) {
				return hintErr(errors.New("the new password is the same as the current one"), "set NUAGE_NEW_PASSWORD or --new-password-file to the new password")
			}
			if err := c.ChangePassword(cmd.Context(), current, next, nil); err != nil {
				return err
			}
			a.infof("Password changed. Log in with the new one from now on; this session stays logged in.\n")
			return nil
		},
	}
	cmd.Flags().StringVar(&pwFile, "password-file", "", "read the current password from this file's first line")
	cmd.Flags().StringVar(&newPwFile, "new-password-file", "", "read the new password from this file's first line")
	return cmd
}

func (a *app) recoveryCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "recovery",
		GroupID: "account",
		Short:   "Export a recovery key, or set a new password with one",
		Long: `A recovery key sets a new password when the password is lost. Without the
password or a recovery key nobody, not even the coordinator's operator, can
open your files.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usagef("recovery needs a subcommand: export or reset")
		},
	}
	cmd.AddCommand(a.recoveryExportCommand(), a.recoveryResetCommand())
	return cmd
}

func (a *app) recoveryExportCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "export",
		Short: "Make a new recovery key and print it",
		Long: `Make a new recovery key and print it on standard output. It replaces any
earlier recovery key, which stops working. Write it down and keep it
offline: with it and your e-mail address, anyone can set a new password and
read your files.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			defer c.Close()
			key, err := c.ExportRecovery(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, key)
			// The warning goes to stderr even with -q: it is not chatter.
			fmt.Fprintf(a.stderr, "Store this recovery key offline (on paper, in a safe). With it and your e-mail\n"+
				"anyone can set a new password and read your files. Earlier recovery keys no longer work.\n"+
				"To use it: nuage recovery reset %s\n", c.Email())
			return nil
		},
	}
}

func (a *app) recoveryResetCommand() *cobra.Command {
	var server, keyFile, newPwFile, code string
	cmd := &cobra.Command{
		Use:   "reset EMAIL",
		Short: "Set a new password with the recovery key, and log in",
		Long: `Set a new password with the recovery key, and log in. The files, API
tokens and the recovery key itself keep working. A wrong recovery key
changes nothing.

The recovery key comes from --recovery-key-file, NUAGE_RECOVERY_KEY or a
prompt; the new password
from --new-password-file, NUAGE_NEW_PASSWORD or a prompt; the two-factor code,
if two-factor login is on, from --totp, NUAGE_TOTP or a prompt.`,
		Example: `  nuage recovery reset you@example.org`,
		Args:    exactArgs(1, "EMAIL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			rk, err := a.secret(keyFile, "NUAGE_RECOVERY_KEY", "Recovery key: ", false)
			if err != nil {
				return err
			}
			next, err := a.secret(newPwFile, "NUAGE_NEW_PASSWORD", "New password: ", true)
			if err != nil {
				return err
			}
			totp := a.totpCode(code)
			c, err := client.RecoveryReset(cmd.Context(), server, args[0], string(rk), next, totp, nil, a.clientOptions())
			if errors.Is(err, client.ErrTOTPRequired) && totp == "" && a.isTerminal() {
				if totp, err = a.readLine("Two-factor code: "); err != nil {
					return err
				}
				c, err = client.RecoveryReset(cmd.Context(), server, args[0], string(rk), next, totp, nil, a.clientOptions())
			}
			if err != nil {
				return err
			}
			return a.keepSession(c, "New password set; logged in")
		},
	}
	serverFlag(cmd, &server)
	cmd.Flags().StringVar(&keyFile, "recovery-key-file", "", "read the recovery key from this file's first line")
	cmd.Flags().StringVar(&newPwFile, "new-password-file", "", "read the new password from this file's first line")
	totpFlag(cmd, &code)
	return cmd
}

func (a *app) twoFactorCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "2fa",
		GroupID: "account",
		Short:   "Turn two-factor login (TOTP) on or off",
		Long: `Two-factor login: a password login also needs the current 6-digit code of an
authenticator app (RFC 6238 TOTP). It protects the session; the files stay
encrypted under your password either way.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usagef("2fa needs a subcommand: enable or disable")
		},
	}
	cmd.AddCommand(a.twoFactorEnableCommand(), a.twoFactorDisableCommand())
	return cmd
}

func (a *app) twoFactorEnableCommand() *cobra.Command {
	var code, secretFile string
	cmd := &cobra.Command{
		Use:   "enable",
		Short: "Turn on two-factor login",
		Long: `Turn on two-factor login. nuage prints a new secret and its otpauth:// URI
(on standard output, as "secret: …" and "uri: …"): add it to your
authenticator app, then confirm with the code the app shows (asked on a
terminal, or --totp / NUAGE_TOTP).

With --secret-file FILE, the secret is read from FILE if it exists, and else
a new one is written to it (mode 0600): a first run without a code saves the
secret, and a second run with the code turns two-factor login on.`,
		Example: `  nuage 2fa enable
  nuage 2fa enable --secret-file 2fa.txt             # prints and saves the secret
  NUAGE_TOTP=123456 nuage 2fa enable --secret-file 2fa.txt`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			defer c.Close()
			secret, uri, err := a.totpSecret(c, secretFile)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "secret: %s\nuri: %s\n", client.FormatTOTPSecret(secret), uri)
			a.infof("Add this secret to your authenticator app (type it, or make a QR code of the URI).\n")
			totp := a.totpCode(code)
			if totp == "" {
				if !a.isTerminal() {
					hint := "run it on a terminal, or pass the app's code with --totp or NUAGE_TOTP"
					if secretFile == "" {
						hint = "run it on a terminal, or keep the secret with --secret-file FILE and run again with the code in --totp or NUAGE_TOTP"
					}
					return hintErr(fmt.Errorf("two-factor login not turned on: no code to confirm the secret: %w", client.ErrTOTPRequired), hint)
				}
				if totp, err = a.readLine("Code shown by the app: "); err != nil {
					return err
				}
			}
			if err := c.EnableTOTP(cmd.Context(), secret, totp); err != nil {
				return err
			}
			a.infof("Two-factor login is on: `nuage login` now also asks for the app's code.\n")
			return nil
		},
	}
	totpFlag(cmd, &code)
	cmd.Flags().StringVar(&secretFile, "secret-file", "", "read the secret from this file, or save a new one to it")
	return cmd
}

// totpSecret reads the secret from file if it exists, or makes a new one
// (and saves it to file if one is named).
func (a *app) totpSecret(c *client.Client, file string) ([]byte, string, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err == nil {
			secret, err := client.ParseTOTPSecret(strings.TrimPrefix(strings.TrimSpace(string(b)), "secret:"))
			if err != nil {
				return nil, "", hintErr(fmt.Errorf("%s: %w", file, err), "remove the file to make a new secret")
			}
			return secret, client.TOTPURI(c.Email(), secret), nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return nil, "", fmt.Errorf("read the secret: %w", err)
		}
	}
	secret, uri, err := c.NewTOTPSecret()
	if err != nil {
		return nil, "", err
	}
	if file != "" {
		if err := writePrivate(file, []byte(client.FormatTOTPSecret(secret)+"\n"), true); err != nil {
			return nil, "", fmt.Errorf("save the secret: %w", err)
		}
	}
	return secret, uri, nil
}

func (a *app) twoFactorDisableCommand() *cobra.Command {
	var code string
	cmd := &cobra.Command{
		Use:   "disable",
		Short: "Turn off two-factor login",
		Long:  `Turn off two-factor login, with a current code of the authenticator app (asked on a terminal, or --totp / NUAGE_TOTP).`,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			defer c.Close()
			totp := a.totpCode(code)
			if totp == "" {
				if !a.isTerminal() {
					return hintErr(fmt.Errorf("no two-factor code: %w", client.ErrTOTPRequired), "pass the app's code with --totp or NUAGE_TOTP")
				}
				if totp, err = a.readLine("Code shown by the app: "); err != nil {
					return err
				}
			}
			if err := c.DisableTOTP(cmd.Context(), totp); err != nil {
				return err
			}
			a.infof("Two-factor login is off.\n")
			return nil
		},
	}
	totpFlag(cmd, &code)
	return cmd
}

func (a *app) tokenCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "token",
		GroupID: "account",
		Short:   "API tokens for headless machines",
		Long: `An API token logs a machine in without the password: set NUAGE_TOKEN to it
(and NUAGE_SERVER to the coordinator) and every file command uses it. A
token reads and changes files; it cannot change the password, the recovery
key, two-factor login or the tokens. Revoking a token ends its sessions.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return usagef("token needs a subcommand: create, ls or revoke")
		},
	}
	cmd.AddCommand(a.tokenCreateCommand(), a.tokenListCommand(), a.tokenRevokeCommand())
	return cmd
}

func (a *app) tokenCreateCommand() *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:     "create --name NAME",
		Short:   "Create an API token and print it (once)",
		Example: `  nuage token create --name backup-server`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if name == "" {
				return usagef("token create needs --name NAME (to tell tokens apart and revoke them)")
			}
			c, err := a.client()
			if err != nil {
				return err
			}
			defer c.Close()
			tok, info, err := c.CreateToken(cmd.Context(), name)
			if err != nil {
				return err
			}
			fmt.Fprintln(a.stdout, tok)
			fmt.Fprintf(a.stderr, "Created API token %q (ID %s). It is shown only now: store it like a password.\n"+
				"Use it with: NUAGE_TOKEN=<token> NUAGE_SERVER=%s nuage ls /\n", info.Name, info.ID, c.Server())
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "a name for the token, unique in the account (1 to 64 characters)")
	return cmd
}

func (a *app) tokenListCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:     "ls",
		Aliases: []string{"list"},
		Short:   "List the API tokens",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			defer c.Close()
			ts, err := c.Tokens(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				if ts == nil {
					ts = []client.TokenInfo{}
				}
				enc := json.NewEncoder(a.stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(ts)
			}
			if len(ts) == 0 {
				a.infof("No API tokens. Create one with `nuage token create --name NAME`.\n")
				return nil
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "ID\tNAME\tCREATED\tLAST USED")
			for _, t := range ts {
				used := "never"
				if !t.LastUsed.IsZero() {
					used = t.LastUsed.Local().Format("2006-01-02 15:04")
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.ID, t.Name, t.Created.Local().Format("2006-01-02 15:04"), used)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func (a *app) tokenRevokeCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "revoke ID|NAME",
		Short: "Revoke an API token: it stops working and its sessions end",
		Args:  exactArgs(1, "ID|NAME"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			defer c.Close()
			if err := c.RevokeToken(cmd.Context(), args[0]); err != nil {
				return err
			}
			a.infof("Revoked API token %s.\n", args[0])
			return nil
		},
	}
}

// tokenClient logs in with the API token of NUAGE_TOKEN, at NUAGE_SERVER.
func (a *app) tokenClient(token string) (*client.Client, error) {
	ctx, cancel := context.WithTimeout(context.Background(), tokenLoginTimeout)
	defer cancel()
	c, err := client.LoginToken(ctx, envDefault("NUAGE_SERVER", defaultServer), token, a.clientOptions())
	if err != nil {
		return nil, fmt.Errorf("NUAGE_TOKEN: %w", err)
	}
	return c, nil
}

// totpCode is the code of --totp, else NUAGE_TOTP, else "".
func (a *app) totpCode(flag string) string {
	if flag != "" {
		return flag
	}
	return os.Getenv("NUAGE_TOTP")
}

// isTerminal reports whether standard input is a terminal (to prompt).
func (a *app) isTerminal() bool {
	f, ok := a.stdin.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// readLine prompts on stderr and reads one line from the terminal.
func (a *app) readLine(prompt string) (string, error) {
	fmt.Fprint(a.stderr, prompt)
	line, err := bufio.NewReader(a.stdin).ReadString('\n')
	if err != nil && line == "" {
		return "", fmt.Errorf("read answer: %w", err)
	}
	return strings.TrimSpace(line), nil
}

// secret returns a secret from file's first line, else from the
// environment variable env if set and not empty, else from a no-echo
// prompt (asked twice with confirm).
func (a *app) secret(file, env, prompt string, confirm bool) ([]byte, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", file, err)
		}
		line, _, _ := strings.Cut(string(b), "\n")
		line = strings.TrimRight(line, "\r")
		if line == "" {
			return nil, hintErr(fmt.Errorf("%s is empty", file), "put the secret on the file's first line")
		}
		return []byte(line), nil
	}
	if v := os.Getenv(env); v != "" {
		return []byte(v), nil
	}
	f, ok := a.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil, hintErr(fmt.Errorf("no %s: standard input is not a terminal", strings.ToLower(strings.TrimSuffix(prompt, ": "))),
			"set "+env+" (or use the -file flag, see --help)")
	}
	read := func(p string) ([]byte, error) {
		fmt.Fprint(a.stderr, p)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(a.stderr)
		return b, err
	}
	v, err := read(prompt)
	if err != nil {
		return nil, err
	}
	if len(v) == 0 {
		return nil, fmt.Errorf("empty %s", strings.ToLower(strings.TrimSuffix(prompt, ": ")))
	}
	if confirm {
		again, err := read(strings.TrimSuffix(prompt, ": ") + " (again): ")
		if err != nil {
			return nil, err
		}
		if string(again) != string(v) {
			return nil, errors.New("the two entries do not match")
		}
	}
	return v, nil
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

// keepSession saves a new session as this config's, closes the client and
// says who is logged in where ("<what> as EMAIL on SERVER").
func (a *app) keepSession(c *client.Client, what string) error {
	defer c.Close()
	if err := a.saveState(c.State()); err != nil {
		return err
	}
	a.infof("%s as %s on %s\n", what, c.Email(), c.Server())
	return nil
}
