package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/term"

	"github.com/nuage-storage/nuage/client"
)

const defaultServer = "http://127.0.0.1:8080"

var errNotLoggedIn = errors.New("not logged in")

// app holds what every command shares: streams, global flags, the logger.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer

	configDir string
	quiet     bool
	verbose   bool
}

func newApp(stdin io.Reader, stdout, stderr io.Writer) *app {
	return &app{stdin: stdin, stdout: stdout, stderr: stderr}
}

func (a *app) logger() *slog.Logger {
	level := slog.LevelWarn
	if a.verbose {
		level = slog.LevelDebug
	}
	if a.quiet && !a.verbose {
		level = slog.LevelError
	}
	return slog.New(slog.NewTextHandler(a.stderr, &slog.HandlerOptions{Level: level}))
}

func (a *app) infof(format string, args ...any) {
	if !a.quiet {
		fmt.Fprintf(a.stderr, format, args...)
	}
}

// stateDir is where the client keeps its session.
func (a *app) stateDir() (string, error) {
	if a.configDir != "" {
		return a.configDir, nil
	}
	if d := os.Getenv("NUAGE_CONFIG"); d != "" {
		return d, nil
	}
	d, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("no config directory: %w (set --config or NUAGE_CONFIG)", err)
	}
	return filepath.Join(d, "nuage"), nil
}

func (a *app) statePath() (string, error) {
	d, err := a.stateDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "session.json"), nil
}

// saveState writes the session atomically with mode 0600.
func (a *app) saveState(st client.State) error {
	p, err := a.statePath()
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := writePrivate(p, b, true); err != nil {
		return fmt.Errorf("save session: %w", err)
	}
	return nil
}

// writePrivate replaces the file at p atomically with b, mode 0600,
// creating its directory (mode 0700) if needed. With sync the data reaches
// the disk before the rename.
func writePrivate(p string, b []byte, sync bool) error {
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(p)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if sync {
		if err := tmp.Sync(); err != nil {
			tmp.Close()
			return err
		}
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), p)
}

// client resumes the saved session, or logs in with NUAGE_TOKEN if set.
func (a *app) client() (*client.Client, error) {
	if tok := os.Getenv("NUAGE_TOKEN"); tok != "" {
		return a.tokenClient(tok)
	}
	p, err := a.statePath()
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(p)
	if errors.Is(err, os.ErrNotExist) {
		return nil, hintErr(errNotLoggedIn, "run `nuage signup EMAIL` or `nuage login EMAIL` first")
	}
	if err != nil {
		return nil, fmt.Errorf("read session: %w", err)
	}
	var st client.State
	if err := json.Unmarshal(b, &st); err != nil {
		return nil, hintErr(fmt.Errorf("session file %s is corrupt: %w", p, err), "run `nuage login EMAIL` again")
	}
	return client.New(st, a.clientOptions())
}

// clientOptions are the options of every client the CLI opens: the
// client keeps the verified state of the account's journal in the config
// directory, so that each command checks only what changed since the last.
func (a *app) clientOptions() *client.Options {
	o := &client.Options{Logger: a.logger()}
	if d, err := a.stateDir(); err == nil {
		o.StateDir = d
	}
	return o
}

// password returns the password from NUAGE_PASSWORD, --password-file or a
// no-echo prompt (confirm asks twice).
func (a *app) password(file string, confirm bool) ([]byte, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("read password file: %w", err)
		}
		pw := strings.TrimRight(string(b), "\r\n")
		if pw == "" {
			return nil, hintErr(errors.New("password file is empty"), "put the password on the file's first line")
		}
		return []byte(pw), nil
	}
	if pw, ok := os.LookupEnv("NUAGE_PASSWORD"); ok {
		if pw == "" {
			return nil, hintErr(errors.New("NUAGE_PASSWORD is set but empty"), "unset it to be prompted, or set the password")
		}
		return []byte(pw), nil
	}
	f, ok := a.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil, hintErr(errors.New("no password: standard input is not a terminal"), "set NUAGE_PASSWORD or use --password-file")
	}
	read := func(prompt string) ([]byte, error) {
		fmt.Fprint(a.stderr, prompt)
		pw, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(a.stderr)
		return pw, err
	}
	pw, err := read("Password: ")
	if err != nil {
		return nil, err
	}
	if len(pw) == 0 {
		return nil, errors.New("empty password")
	}
	if confirm {
		again, err := read("Password (again): ")
		if err != nil {
			return nil, err
		}
		if string(again) != string(pw) {
			return nil, errors.New("the passwords do not match")
		}
	}
	return pw, nil
}

func hintErr(err error, hint string) error { return &hintedErr{err, hint} }

type hintedErr struct {
	err  error
	hint string
}

func (h *hintedErr) Error() string { return h.err.Error() }
func (h *hintedErr) Unwrap() error { return h.err }
func (h *hintedErr) Hint() string  { return h.hint }
