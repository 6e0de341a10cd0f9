package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/nuage-storage/nuage/client"
	"github.com/nuage-storage/nuage/internal/testnet"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"nuage": func() { os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
		// nuagecode CODE ARGS... runs nuage ARGS and succeeds only if it
		// exits with CODE, so that scripts check the documented exit codes.
		"nuagecode": func() {
			want, err := strconv.Atoi(os.Args[1])
			if err != nil {
				fmt.Fprintln(os.Stderr, "usage: nuagecode CODE ARGS...")
				os.Exit(2)
			}
			if got := run(context.Background(), os.Args[2:], os.Stdin, os.Stdout, os.Stderr); got != want {
				fmt.Fprintf(os.Stderr, "nuagecode: exit code %d, want %d\n", got, want)
				os.Exit(1)
			}
			os.Exit(0)
		},
	})
}

var scriptUser atomic.Int64

// TestScripts runs the CLI scripts in testdata/script against one
// in-process network; each script gets its own account and config dir.
func TestScripts(t *testing.T) {
	net := testnet.New(t, testnet.Options{})
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			env.Setenv("NUAGE_SERVER", net.URL)
			env.Setenv("NUAGE_CONFIG", filepath.Join(env.WorkDir, ".config"))
			env.Setenv("NUAGE_PASSWORD", "a long passphrase for tests")
			env.Setenv("EMAIL", fmt.Sprintf("script%d@example.org", scriptUser.Add(1)))
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// json FILE PATH WANT checks a value in FILE (or stdout/stderr)
			// parsed as JSON; see jsonCmd.
			"json": jsonCmd,
			// jsonenv FILE PATH VAR sets $VAR to a value of FILE (see jsonCmd).
			"jsonenv": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) != 3 {
					ts.Fatalf("usage: jsonenv FILE PATH VAR")
				}
				v, err := jsonValue(ts, args[0], args[1])
				ts.Check(err)
				ts.Setenv(args[2], v)
			},
			// totp FILE VAR [OFFSET] sets VAR to a two-factor code; see totpCmd.
			"totp": totpCmd,
			// envfile VAR FILE sets VAR to FILE's text (or stdout's, stderr's)
			// without surrounding white space, e.g. a token a command printed.
			"envfile": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) != 2 {
					ts.Fatalf("usage: envfile VAR FILE")
				}
				ts.Setenv(args[0], strings.TrimSpace(ts.ReadFile(args[1])))
			},
			// linkurl MODE VAR NEWVAR sets NEWVAR to the link URL in VAR
			// spoiled by MODE; see linkURLCmd.
			"linkurl": linkURLCmd,
			// sleep DURATION waits (at most 10 s), e.g. for a link to expire.
			"sleep": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) != 1 {
					ts.Fatalf("usage: sleep DURATION")
				}
				d, err := time.ParseDuration(args[0])
				ts.Check(err)
				if d < 0 || d > 10*time.Second {
					ts.Fatalf("sleep %s: want 0 to 10s", d)
				}
				time.Sleep(d)
			},
			// mkfile NAME SIZE writes SIZE random bytes to NAME.
			"mkfile": func(ts *testscript.TestScript, neg bool, args []string) {
				if neg || len(args) != 2 {
					ts.Fatalf("usage: mkfile NAME SIZE")
				}
				n, err := strconv.Atoi(args[1])
				ts.Check(err)
				b := make([]byte, n)
				_, err = rand.Read(b)
				ts.Check(err)
				ts.Check(os.WriteFile(ts.MkAbs(args[0]), b, 0o644))
			},
		},
	})
}

// jsonCmd implements the script command
//
//	json FILE PATH WANT
//
// FILE is a file name or stdout/stderr, parsed as JSON. PATH is a
// dot-separated list of object keys and array indexes ("0.name"; "." is
// the document itself), optionally ending in "#" for the length of an array
// or object ("#", "0.versions#"). WANT is compared with the value found,
// printed as in JSON for numbers and booleans, raw for strings. With ! the
// value must differ (or be absent).
func jsonCmd(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: json FILE PATH WANT")
	}
	got, err := jsonValue(ts, args[0], args[1])
	switch {
	case err != nil && !neg:
		ts.Fatalf("%s: %v", args[0], err)
	case err != nil:
		return
	case neg && got == args[2]:
		ts.Fatalf("%s: %s is %q", args[0], args[1], got)
	case !neg && got != args[2]:
		ts.Fatalf("%s: %s is %q, want %q", args[0], args[1], got, args[2])
	}
}

// jsonValue returns the value at path p of file (or stdout/stderr) parsed as JSON.
func jsonValue(ts *testscript.TestScript, file, p string) (string, error) {
	dec := json.NewDecoder(bytes.NewReader([]byte(ts.ReadFile(file))))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		ts.Fatalf("%s is not JSON: %v", file, err)
	}
	return jsonLookup(v, p)
}

func jsonLookup(v any, p string) (string, error) {
	length := strings.HasSuffix(p, "#")
	p = strings.TrimSuffix(p, "#")
	if p != "" && p != "." {
		for _, k := range strings.Split(p, ".") {
			switch x := v.(type) {
			case map[string]any:
				var ok bool
				if v, ok = x[k]; !ok {
					return "", fmt.Errorf("no key %q", k)
				}
			case []any:
				i, err := strconv.Atoi(k)
				if err != nil || i < 0 || i >= len(x) {
					return "", fmt.Errorf("no index %q in an array of %d", k, len(x))
				}
				v = x[i]
			default:
				return "", fmt.Errorf("cannot index %T with %q", v, k)
			}
		}
	}
	if length {
		switch x := v.(type) {
		case map[string]any:
			return strconv.Itoa(len(x)), nil
		case []any:
			return strconv.Itoa(len(x)), nil
		}
		return "", fmt.Errorf("%T has no length", v)
	}
	switch x := v.(type) {
	case string:
		return x, nil
	case nil:
		return "null", nil
	default:
		b, err := json.Marshal(x)
		return string(b), err
	}
}

// totpCmd implements the script command
//
//	totp FILE VAR [OFFSET]
//
// It reads a two-factor secret from FILE (or stdout/stderr): a line
// "secret: BASE32" as `nuage 2fa enable` prints, or the file's whole text as
// --secret-file saves it. It sets the environment variable VAR to the code
// of the current 30 s step plus OFFSET steps (default 0). In the last 2 s of
// a step it first waits for the next one, so the coordinator sees the same step.
func totpCmd(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 || len(args) > 3 {
		ts.Fatalf("usage: totp FILE VAR [OFFSET]")
	}
	text := ts.ReadFile(args[0])
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "secret:"); ok {
			text = v
			break
		}
	}
	secret, err := client.ParseTOTPSecret(text)
	ts.Check(err)
	offset := 0
	if len(args) == 3 {
		offset, err = strconv.Atoi(args[2])
		ts.Check(err)
	}
	now := time.Now()
	if left := client.TOTPPeriod - time.Duration(now.Unix()%30)*time.Second - time.Duration(now.Nanosecond()); left < 2*time.Second {
		time.Sleep(left + 10*time.Millisecond)
		now = time.Now()
	}
	ts.Setenv(args[1], client.TOTPCode(secret, now.Add(time.Duration(offset)*client.TOTPPeriod)))
}

// linkURLCmd implements the script command
//
//	linkurl MODE VAR NEWVAR
//
// It sets NEWVAR to the link URL in $VAR spoiled as MODE says: "damage"
// replaces one character in the middle of the key (after #) by another
// base64url character, "nofragment" drops the # and the key, "truncate"
// drops the key's last character.
func linkURLCmd(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: linkurl damage|nofragment|truncate VAR NEWVAR")
	}
	u := ts.Getenv(args[1])
	base, frag, ok := strings.Cut(u, "#")
	if !ok || len(frag) < 2 {
		ts.Fatalf("$%s is not a link URL: %q", args[1], u)
	}
	switch args[0] {
	case "damage":
		b := []byte(frag)
		i := len(b) / 2
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		u = base + "#" + string(b)
	case "nofragment":
		u = base
	case "truncate":
		u = base + "#" + frag[:len(frag)-1]
	default:
		ts.Fatalf("linkurl: unknown mode %q", args[0])
	}
	ts.Setenv(args[2], u)
}

func TestCommandName(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"put", "a", "/a"}, "put"},
		{[]string{"-q", "get", "/a", "a"}, "get"},
		{[]string{"--config", "/tmp/put", "ls"}, "ls"},
		{[]string{"--config=/tmp/c", "-v", "serve", "--data", "d"}, "serve"},
		{[]string{"-q", "--", "cat", "/a"}, "cat"},
		{[]string{"-h"}, ""},
		{[]string{"--config"}, ""},
		{nil, ""},
		{[]string{"help", "put"}, "help"},
	} {
		if got := commandName(c.args); got != c.want {
			t.Errorf("commandName(%q) = %q, want %q", c.args, got, c.want)
		}
	}
}
