package main

import (
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/nuage-storage/nuage/internal/testnet"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"nuage": func() { os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
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
