package main

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/nuage-storage/nuage/client"
)

// errFingerprintMismatch is returned when the fingerprint a user gives is
// not the one of the keys the coordinator serves for a contact.
var errFingerprintMismatch = errors.New("the fingerprint does not match")

// contactError ties an error about another account's keys to its e-mail,
// so that the key-change warning can name it.
type contactError struct {
	err   error
	email string
}

func (e *contactError) Error() string { return e.err.Error() }
func (e *contactError) Unwrap() error { return e.err }

// withContact wraps a non-nil err as being about email's account.
func withContact(err error, email string) error {
	if err == nil {
		return nil
	}
	return &contactError{err: err, email: email}
}

// keyChangedEmail returns the e-mail address an ErrKeyChanged error is
// about: the one a command attached, else the OWNER of a /shared/OWNER/…
// path among the command's arguments, else "".
func keyChangedEmail(err error, args []string) string {
	if ce, ok := errors.AsType[*contactError](err); ok {
		return ce.email
	}
	for _, arg := range args {
		if rest, ok := strings.CutPrefix(arg, "/shared/"); ok {
			if owner, _, _ := strings.Cut(rest, "/"); owner != "" {
				return owner
			}
		}
	}
	return ""
}

// keyChangedWarning is the warning printed when a contact's keys differ
// from the pinned ones.
func keyChangedWarning(email string) string {
	who, verify := "this account", "nuage contact verify EMAIL --fingerprint FINGERPRINT"
	check := "nuage contact fingerprint EMAIL"
	if email != "" {
		who = email
		verify = "nuage contact verify " + email + " --fingerprint FINGERPRINT"
		check = "nuage contact fingerprint " + email
	}
	const bar = "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n"
	return bar +
		"@    WARNING: THE KEYS OF " + strings.ToUpper(who) + " HAVE CHANGED\n" +
		bar +
		"The coordinator now serves other public keys for " + who + " than the ones\n" +
		"this machine pinned when it first shared with them. Either they reset their\n" +
		"account (lost password, new keys), or SOMEONE IS INTERCEPTING: the coordinator\n" +
		"or whoever controls it would then read what you share with them, or pass off\n" +
		"files as theirs. nuage refuses to share with them or open their shares until\n" +
		"you check:\n" +
		"  1. ask them, by another channel (in person, by phone), to run `nuage whoami`\n" +
		"     and read you its fingerprint;\n" +
		"  2. compare it with the one this prints:  " + check + "\n" +
		"  3. only if the two are the same:  " + verify + "\n"
}

// fingerprintDigits returns the hex digits of a fingerprint as typed
// (case, spaces and dashes ignored), or false if it has other characters.
func fingerprintDigits(s string) (string, bool) {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r == '-' || r == ' ' || r == ':':
		case r >= '0' && r <= '9', r >= 'a' && r <= 'f':
			b.WriteRune(r)
		default:
			return "", false
		}
	}
	return b.String(), b.Len() > 0
}

// contactStatus says in a word or two how far a contact's keys are trusted.
func contactStatus(ct client.Contact) string {
	switch {
	case ct.Changed:
		return "CHANGED since pinned"
	case ct.Verified:
		return "verified"
	case ct.Pinned:
		return "pinned (not verified)"
	}
	return "not pinned (never shared with)"
}

// jsonContact is the --json form of a contact.
type jsonContact struct {
	Email             string `json:"email"`
	Account           string `json:"account"`
	Fingerprint       string `json:"fingerprint"`
	Pinned            bool   `json:"pinned"`
	Verified          bool   `json:"verified"`
	Changed           bool   `json:"changed"`
	PinnedFingerprint string `json:"pinned_fingerprint,omitempty"`
}

func (a *app) contactCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "contact",
		GroupID: "sharing",
		Short:   "Check and verify the keys of the people you share with",
		Long: `Sharing a folder seals its key to the recipient's public key, which the
coordinator serves. nuage pins a person's keys the first time you share with
them or open their share, and refuses to go on if the coordinator later
serves other keys. To be sure the pinned keys are really theirs, compare
fingerprints out of band: they run nuage whoami, you run nuage contact
fingerprint EMAIL, and if both show the same, nuage contact verify EMAIL.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 0 {
				return usagef("unknown contact command %q (want fingerprint or verify)", args[0])
			}
			return usagef("contact needs a command: fingerprint or verify")
		},
		RunE: func(*cobra.Command, []string) error { return nil },
	}
	cmd.AddCommand(a.contactFingerprintCommand(), a.contactVerifyCommand())
	return cmd
}

func (a *app) contactFingerprintCommand() *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "fingerprint EMAIL",
		Short: "Show the fingerprint of a person's keys and whether they are verified",
		Long: `Show the fingerprint of the keys the coordinator serves for EMAIL, and their
status here: not pinned (you never shared with them), pinned (not verified),
verified, or CHANGED since pinned. Compare the fingerprint with the one they
see with nuage whoami.`,
		Example: `  nuage contact fingerprint bob@example.org`,
		Args:    exactArgs(1, "EMAIL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := a.client()
			if err != nil {
				return err
			}
			defer c.Close()
			ct, err := c.Contact(cmd.Context(), args[0])
			if err != nil {
				return withContact(err, args[0])
			}
			if asJSON {
				if err := writeJSON(a.stdout, jsonContact{Email: ct.Email, Account: ct.Account, Fingerprint: ct.Fingerprint,
					Pinned: ct.Pinned, Verified: ct.Verified, Changed: ct.Changed, PinnedFingerprint: ct.PinnedFingerprint}); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(a.stdout, "email:        %s\naccount:      %s\nfingerprint:  %s\nstatus:       %s\n",
					ct.Email, ct.Account, ct.Fingerprint, contactStatus(ct))
				if ct.Changed {
					fmt.Fprintf(a.stdout, "pinned:       %s\n", ct.PinnedFingerprint)
				}
			}
			if ct.Changed {
				fmt.Fprint(a.stderr, keyChangedWarning(ct.Email))
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func (a *app) contactVerifyCommand() *cobra.Command {
	var fingerprint string
	cmd := &cobra.Command{
		Use:   "verify EMAIL",
		Short: "Mark a person's current keys as verified (after comparing fingerprints)",
		Long: `Pin the keys the coordinator serves for EMAIL and mark them verified. Do it
only after comparing fingerprints by another channel than nuage (in person,
by phone): EMAIL runs nuage whoami and reads you its fingerprint.

With --fingerprint F nuage checks that F is the fingerprint of the keys
served now (dashes, spaces and case do not matter) and refuses otherwise.
Without it, on a terminal, nuage shows the fingerprint and asks whether it
matches. After a key change (see nuage contact fingerprint) this is how the
new keys are accepted.`,
		Example: `  nuage contact verify bob@example.org
  nuage contact verify bob@example.org --fingerprint 3f2a-91bc-0d4e-77a1-c5e2-9b03-4f6d-e8a0`,
		Args: exactArgs(1, "EMAIL"),
		RunE: func(cmd *cobra.Command, args []string) error {
			email := args[0]
			var given string
			if fingerprint != "" {
				var ok bool
				if given, ok = fingerprintDigits(fingerprint); !ok {
					return usagef("--fingerprint %q: want hex digits as nuage whoami prints them", fingerprint)
				}
			} else if !a.isTerminal() {
				return usagef("contact verify needs --fingerprint when standard input is not a terminal")
			}
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
			current, _ := fingerprintDigits(ct.Fingerprint)
			if given != "" {
				if given != current {
					return hintErr(fmt.Errorf("%w: the coordinator serves keys with fingerprint %s for %s; nothing was verified",
						errFingerprintMismatch, ct.Fingerprint, ct.Email),
						"check that you copied it right; if you did, these are not their keys: do not share with them, and tell them")
				}
			} else {
				if ct.Changed {
					fmt.Fprintf(a.stderr, "The keys of %s CHANGED since you pinned them (pinned fingerprint %s).\n", ct.Email, ct.PinnedFingerprint)
				}
				fmt.Fprintf(a.stderr, "Fingerprint of %s: %s\n", ct.Email, ct.Fingerprint)
				answer, err := a.readLine(fmt.Sprintf("Does it match what %s sees with `nuage whoami`? [y/N] ", ct.Email))
				if err != nil {
					return err
				}
				if yes := strings.ToLower(answer); yes != "y" && yes != "yes" {
					return hintErr(fmt.Errorf("%s not verified", ct.Email),
						"if the fingerprints differ, these are not their keys: do not share with them, and tell them")
				}
			}
			ct, err = c.VerifyContact(ctx, email, ct.Fingerprint)
			if err != nil {
				return withContact(err, email)
			}
			a.infof("Verified %s (fingerprint %s): nuage shares with them and opens their shares with these keys.\n", ct.Email, ct.Fingerprint)
			return nil
		},
	}
	cmd.Flags().StringVar(&fingerprint, "fingerprint", "", "the fingerprint EMAIL reads you from nuage whoami")
	return cmd
}
