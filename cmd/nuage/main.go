// Command nuage is end-to-end encrypted, erasure-coded storage: one binary
// for the client, the coordinator and the storage nodes.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/nuage-storage/nuage/client"
	"github.com/nuage-storage/nuage/internal/api"
	"github.com/nuage-storage/nuage/internal/timerslack"
)

// clientMemoryLimit is the soft memory limit of file commands (GOMEMLIMIT overrides it).
const clientMemoryLimit = 160 << 20

// Exit codes, documented by `nuage help exit-codes`.
const (
	exitOK          = 0
	exitError       = 1
	exitUsage       = 2
	exitNotFound    = 3
	exitAuth        = 4
	exitTampered    = 5
	exitUnavailable = 6
	exitExists      = 7
	exitQuota       = 8
	exitTooMany     = 9
	exitLinkInvalid = 10
	exitInterrupted = 130
)

const exitCodesHelp = `nuage exits with:

  0    success
  1    an error not listed below
  2    usage error: a bad flag, argument or remote path; a damaged link URL
  3    not found: no such file, folder or account
  4    not authorized: not logged in, wrong password or code, session
       expired, wrong link password, writing through a read-only share
  5    integrity failure: data or the account's history did not authenticate
       (tampering or rollback by the coordinator, corruption), or a contact's
       keys changed since you pinned them; nothing unauthenticated was written
  6    unavailable: too few storage nodes or pieces reachable
  7    already exists: a name is taken (choose another name, or see the
       command's --overwrite)
  8    quota exceeded: free space with nuage trash empty, or ask for more
  9    too many attempts: wait for the time the error gives, then retry
  10   link no longer valid: revoked, expired, download limit reached, or
       its target deleted
  130  interrupted (Ctrl-C); an interrupted put or get continues where it
       stopped when run again
`

func main() {
	// First, before anything else runs: this may execute the program again.
	if slackCommands[commandName(os.Args[1:])] {
		slack, err := timerslack.Parse(os.Getenv(timerslack.Env))
		if err != nil {
			fmt.Fprintf(os.Stderr, "error: %v\nhint: %s\n", err, timerslack.Hint)
			os.Exit(exitUsage)
		}
		if err := timerslack.Apply(slack); err != nil {
			fmt.Fprintf(os.Stderr, "warning: %v\n", err)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	stopProfile := startProfile(os.Getenv("NUAGE_CPUPROFILE"), os.Stderr)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stopProfile()
	stop()
	os.Exit(code)
}

// slackCommands are the commands that run with nuage's timer slack
// (internal/timerslack): those that move data or serve it, for which
// fewer wake-ups of the runtime's monitor save a tenth of the CPU. The
// others end too soon to gain from it, and it would cost them their
// start-up a second time (about 15 ms).
var slackCommands = map[string]bool{"put": true, "get": true, "cat": true, "serve": true, "node": true, "bench": true}

// commandName returns the name of the command args run: the first
// argument that is neither a global flag nor the value of one.
func commandName(args []string) string {
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "--":
			if i+1 < len(args) {
				return args[i+1]
			}
			return ""
		case a == "--config":
			i++ // its value
		case strings.HasPrefix(a, "-"):
		default:
			return a
		}
	}
	return ""
}

// startProfile writes a CPU profile of the command to path (nothing if
// path is ""), for `go tool pprof`: NUAGE_CPUPROFILE=get.prof nuage get …
// It returns the function that ends it.
func startProfile(path string, stderr io.Writer) func() {
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err == nil {
		err = pprof.StartCPUProfile(f)
	}
	if err != nil {
		fmt.Fprintf(stderr, "warning: no CPU profile: %v\n", err)
		return func() {}
	}
	return func() {
		pprof.StopCPUProfile()
		f.Close()
	}
}

// usageError marks errors in how the command was called.
type usageError struct{ error }

func (u usageError) Unwrap() error { return u.error }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// run executes the CLI and returns the exit code. Tests call it in-process.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	app := newApp(stdin, stdout, stderr)
	root := app.rootCommand()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	reportError(stderr, err, args)
	return exitCode(ctx, err)
}

// reportError prints the error a command with args ended with, and what
// to do about it.
func reportError(w io.Writer, err error, args []string) {
	fmt.Fprintf(w, "error: %v\n", err)
	if errors.Is(err, client.ErrKeyChanged) {
		// Not hidden by -q: it may be an attack in progress.
		fmt.Fprint(w, keyChangedWarning(keyChangedEmail(err, args)))
	}
	if h := hintFor(err); h != "" {
		fmt.Fprintf(w, "hint: %s\n", h)
	}
}

func hintFor(err error) string {
	if h := client.HintOf(err); h != "" {
		return h
	}
	var ue usageError
	if errors.As(err, &ue) {
		return "see `nuage help` and `nuage COMMAND --help`"
	}
	return ""
}

func exitCode(ctx context.Context, err error) int {
	var ue usageError
	var ae *client.APIError
	isAPI := errors.As(err, &ae)
	switch {
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		return exitInterrupted
	case errors.As(err, &ue), errors.Is(err, client.ErrBadPath), errors.Is(err, client.ErrBadLink):
		return exitUsage
	case errors.Is(err, client.ErrTampered), errors.Is(err, client.ErrKeyChanged), errors.Is(err, errFingerprintMismatch):
		return exitTampered
	case errors.Is(err, client.ErrLinkRevoked), errors.Is(err, client.ErrLinkExpired),
		errors.Is(err, client.ErrLinkExhausted), errors.Is(err, client.ErrLinkGone):
		return exitLinkInvalid
	case errors.Is(err, client.ErrUnauthorized), errors.Is(err, errNotLoggedIn), errors.Is(err, client.ErrTOTPRequired),
		errors.Is(err, client.ErrLinkPassword), errors.Is(err, errNoLinkPassword),
		errors.Is(err, client.ErrReadOnly), errors.Is(err, client.ErrOutOfScope):
		return exitAuth
	case errors.Is(err, client.ErrNotFound), errors.Is(err, os.ErrNotExist):
		return exitNotFound
	case errors.Is(err, client.ErrUnavailable):
		return exitUnavailable
	case errors.Is(err, client.ErrExists), errors.Is(err, os.ErrExist):
		return exitExists
	case isAPI && ae.Code == api.CodeQuotaExceeded:
		return exitQuota
	case isAPI && ae.Code == api.CodeTooMany:
		return exitTooMany
	}
	return exitError
}

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "nuage",
		Short: "End-to-end encrypted, erasure-coded storage that nobody but you can read",
		Long: `nuage stores files encrypted on your machine with keys only you hold,
erasure-coded into pieces spread over storage nodes. The coordinator keeps
accounts and encrypted metadata; it never sees a key, a name or a byte of
plaintext.

Start a whole network on this machine:    nuage serve
Create an account:                        nuage signup you@example.org
Store and fetch a file:                   nuage put photo.jpg /photo.jpg
                                          nuage get /photo.jpg copy.jpg

Share a file or folder by link:           nuage link create /photo.jpg
Fetch a link (no account needed):         nuage get 'https://…/l/…#…'
Share a folder with another account:      nuage share /team bob@example.org

Environment: NUAGE_CONFIG (client state dir), NUAGE_SERVER (coordinator URL),
NUAGE_PASSWORD (password, instead of the prompt), NUAGE_TOTP (two-factor
code), NUAGE_TOKEN (API token, instead of a login), NUAGE_LINK_PASSWORD (a
link's password, instead of the prompt), NUAGE_TIMER_SLACK (for put, get,
cat, serve, node and bench: how late Linux may fire their timers so as to
batch wake-ups; 1ms unless set, off keeps the slack they inherit). Exit
codes: nuage help exit-codes.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.PersistentPreRun = func(cmd *cobra.Command, _ []string) {
		// Transfers hold a few segment buffers at a time; a soft memory
		// limit makes the garbage collector return the rest promptly, so
		// a client's footprint stays flat whatever the file size.
		if cmd.GroupID == "files" && os.Getenv("GOMEMLIMIT") == "" {
			debug.SetMemoryLimit(clientMemoryLimit)
		}
	}
	pf := root.PersistentFlags()
	pf.StringVar(&a.configDir, "config", "", "client state directory (env NUAGE_CONFIG; default: the user config dir/nuage)")
	pf.BoolVarP(&a.quiet, "quiet", "q", false, "no progress bars or informational output")
	pf.BoolVarP(&a.verbose, "verbose", "v", false, "log details to stderr")
	root.AddGroup(&cobra.Group{ID: "files", Title: "Files:"}, &cobra.Group{ID: "sharing", Title: "Sharing:"},
		&cobra.Group{ID: "account", Title: "Account:"}, &cobra.Group{ID: "run", Title: "Running a network:"})
	root.AddCommand(a.accountCommands()...)
	root.AddCommand(
		a.serveCommand(), a.nodeCommand(),
		a.benchCommand(), a.benchClientCommand(),
		a.lsCommand(), a.mkdirCommand(), a.putCommand(), a.getCommand(), a.catCommand(), a.mvCommand(), a.rmCommand(),
		a.trashCommand(), a.versionsCommand(), a.statCommand(), a.duCommand(), a.quotaCommand(),
		a.linkCommand(), a.shareCommand(), a.sharedCommand(), a.contactCommand(),
		exitCodesCommand(),
	)
	return root
}

// exitCodesCommand documents the exit codes; `nuage help exit-codes` and
// `nuage exit-codes` print the table alone.
func exitCodesCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "exit-codes", Short: "What nuage's exit codes mean", Long: exitCodesHelp, Args: cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) { fmt.Fprint(cmd.OutOrStdout(), exitCodesHelp) }}
	cmd.SetHelpFunc(func(cmd *cobra.Command, _ []string) { fmt.Fprint(cmd.OutOrStdout(), exitCodesHelp) })
	return cmd
}
