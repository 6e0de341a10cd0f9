package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// InstallPeers is how to install every peer tool from Debian packages.
const InstallPeers = "apt-get install -y rclone restic age"

// peerTools are the peers, in the order they are run and reported.
var peerTools = []struct {
	tool, pkg string
	bins      []string
	putLabel  string
	getLabel  string
	run       func(r *runner, ctx context.Context, pr *peerRun) error
}{
	{"rclone", "rclone", []string{"rclone"}, "rclone copy → crypt remote", "rclone copy ← crypt remote", (*runner).rclone},
	{"restic", "restic", []string{"restic"}, "restic backup", "restic restore", (*runner).restic},
	{"age", "age", []string{"age", "age-keygen"}, "age encrypt", "age decrypt", (*runner).age},
}

// peerRun is one peer's pair of measurements in progress.
type peerRun struct {
	dir      string
	put, get *PeerResult
	env      []string
}

// measurePeers runs every installed peer on the same input file and disk.
func (r *runner) measurePeers(ctx context.Context) error {
	for _, pt := range peerTools {
		put := PeerResult{Tool: pt.tool, Op: OpPut, Label: pt.putLabel}
		get := PeerResult{Tool: pt.tool, Op: OpGet, Label: pt.getLabel}
		var missing []string
		for _, b := range pt.bins {
			if _, err := exec.LookPath(b); err != nil {
				missing = append(missing, b)
			}
		}
		if len(missing) > 0 {
			hint := "apt-get install -y " + pt.pkg
			for _, p := range []*PeerResult{&put, &get} {
				p.Install = hint
				p.Transfer.Error = "not installed"
			}
			r.progress("%s: not installed (%s)", pt.tool, hint)
			r.res.Peers = append(r.res.Peers, put, get)
			continue
		}
		put.Installed, get.Installed = true, true
		put.Version = toolVersion(ctx, pt.tool)
		get.Version = put.Version
		r.progress("%s (%s): %s, then %s", pt.tool, put.Version, pt.putLabel, pt.getLabel)
		var puts, gets []Transfer
		for i := range r.cfg.Runs {
			if r.cfg.Runs > 1 {
				r.progress("  run %d of %d", i+1, r.cfg.Runs)
			}
			runPut, runGet, err := r.peerRun(ctx, pt.tool, pt.run, put, get)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			puts, gets = append(puts, runPut.Transfer), append(gets, runGet.Transfer)
			for _, p := range []*PeerResult{&runPut, &runGet} {
				r.progress("  %s: %s", p.Label, describe(p.Transfer))
			}
			if err != nil {
				r.note("%s: %v", pt.tool, err)
				break
			}
		}
		put.Transfer, get.Transfer = medianRun(puts, r.cfg.Runs), medianRun(gets, r.cfg.Runs)
		if r.cfg.Runs > 1 {
			r.progress("  median: %s: %s; %s: %s", put.Label, describe(put.Transfer), get.Label, describe(get.Transfer))
		}
		r.res.Peers = append(r.res.Peers, put, get)
	}
	return nil
}

// peerRun runs one peer's put and get once, in a fresh directory (a new
// remote, repository or key) that it removes afterwards, and returns the
// two results, filled in from the put and get templates. When the pair
// fails, the operation that did not produce a figure carries the error.
func (r *runner) peerRun(ctx context.Context, tool string, run func(*runner, context.Context, *peerRun) error, put, get PeerResult) (PeerResult, PeerResult, error) {
	pr := &peerRun{dir: filepath.Join(r.cfg.WorkDir, "peers", tool), put: &put, get: &get, env: os.Environ()}
	err := os.MkdirAll(pr.dir, 0o700)
	if err == nil {
		err = run(r, ctx, pr)
	}
	if rmErr := os.RemoveAll(pr.dir); err == nil && rmErr != nil {
		r.note("%s: removing %s: %v", tool, pr.dir, rmErr)
	}
	if err != nil {
		for _, p := range []*PeerResult{&put, &get} {
			if p.Transfer.Error == "" && !p.Transfer.OK() {
				p.Transfer.Error = err.Error()
			}
		}
	}
	return put, get, err
}

// toolVersion returns the first words of a tool's version output.
func toolVersion(ctx context.Context, tool string) string {
	args := map[string][]string{"rclone": {"version"}, "restic": {"version"}, "age": {"--version"}}[tool]
	out, err := exec.CommandContext(ctx, tool, args...).Output()
	if err != nil {
		return ""
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	f := strings.Fields(line)
	switch {
	case len(f) == 0:
		return ""
	case len(f) == 1:
		return tool + " " + f[0]
	}
	return f[0] + " " + f[1]
}

// timed runs one peer command as a measured transfer of the input file
// into dst; verify, if set, is the output file to compare with the input.
func (r *runner) timed(ctx context.Context, pr *peerRun, dst *PeerResult, verify string, name string, args ...string) error {
	if dst == pr.put {
		if err := warmFile(r.input); err != nil {
			return fmt.Errorf("read input: %w", err)
		}
	}
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = pr.env
	cmd.Dir = pr.dir
	p, err := runMeasured(ctx, cmd, nil, r.cfg.PeerTimerSlack)
	if err != nil {
		dst.Transfer.Error = err.Error()
		return err
	}
	dst.Transfer = p.transfer(r.cfg.Size)
	if verify != "" {
		dst.Transfer.Verified, dst.Transfer.Error = r.verify(verify)
		if dst.Transfer.Error != "" {
			return fmt.Errorf("%s: %s", dst.Label, dst.Transfer.Error)
		}
	}
	return nil
}

// setup runs an untimed preparation command and returns its output.
func setup(ctx context.Context, pr *peerRun, name string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = pr.env
	cmd.Dir = pr.dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s: %w: %s", commandLine(cmd), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

func randomPassword() string {
	b := make([]byte, 24)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// rclone copies the file into a crypt remote over a local directory, and
// back out. The config file, with passwords obscured by `rclone obscure`,
// lives in the run's directory.
func (r *runner) rclone(ctx context.Context, pr *peerRun) error {
	var obscured [2]string
	for i := range obscured {
		o, err := setup(ctx, pr, "rclone", "obscure", randomPassword())
		if err != nil {
			return err
		}
		obscured[i] = o
	}
	remote := filepath.Join(pr.dir, "remote")
	if err := os.MkdirAll(remote, 0o700); err != nil {
		return err
	}
	conf := filepath.Join(pr.dir, "rclone.conf")
	body := fmt.Sprintf("[crypt]\ntype = crypt\nremote = %s\npassword = %s\npassword2 = %s\n", remote, obscured[0], obscured[1])
	if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
		return err
	}
	if err := r.timed(ctx, pr, pr.put, "", "rclone", "--config", conf, "copy", r.input, "crypt:"); err != nil {
		return err
	}
	out := filepath.Join(pr.dir, "out")
	return r.timed(ctx, pr, pr.get, filepath.Join(out, filepath.Base(r.input)),
		"rclone", "--config", conf, "copy", "crypt:"+filepath.Base(r.input), out)
}

// restic backs the file up into a fresh repository and restores it.
func (r *runner) restic(ctx context.Context, pr *peerRun) error {
	pr.env = append(pr.env,
		"RESTIC_PASSWORD="+randomPassword(),
		"RESTIC_REPOSITORY="+filepath.Join(pr.dir, "repo"),
		"RESTIC_CACHE_DIR="+filepath.Join(pr.dir, "cache"))
	if _, err := setup(ctx, pr, "restic", "--quiet", "init"); err != nil {
		return err
	}
	if err := r.timed(ctx, pr, pr.put, "", "restic", "--quiet", "backup", r.input); err != nil {
		return err
	}
	out := filepath.Join(pr.dir, "out")
	// restore recreates the file's absolute path under the target.
	return r.timed(ctx, pr, pr.get, filepath.Join(out, r.input), "restic", "--quiet", "restore", "latest", "--target", out)
}

// age encrypts the file to a fresh X25519 identity and decrypts it.
func (r *runner) age(ctx context.Context, pr *peerRun) error {
	key := filepath.Join(pr.dir, "key.txt")
	if _, err := setup(ctx, pr, "age-keygen", "-o", key); err != nil {
		return err
	}
	recipient, err := setup(ctx, pr, "age-keygen", "-y", key)
	if err != nil {
		return err
	}
	sealed := filepath.Join(pr.dir, "large.age")
	if err := r.timed(ctx, pr, pr.put, "", "age", "-r", recipient, "-o", sealed, r.input); err != nil {
		return err
	}
	out := filepath.Join(pr.dir, "large.out")
	return r.timed(ctx, pr, pr.get, out, "age", "-d", "-i", key, "-o", out, sealed)
}
