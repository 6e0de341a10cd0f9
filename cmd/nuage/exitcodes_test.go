package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"regexp"
	"testing"

	"github.com/nuage-storage/nuage/client"
	"github.com/nuage-storage/nuage/internal/api"
)

func TestExitCodes(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	bg := context.Background()
	for _, tc := range []struct {
		ctx  context.Context
		err  error
		want int
	}{
		{bg, errors.New("boom"), exitError},
		{bg, usagef("bad"), exitUsage},
		{bg, fmt.Errorf("x: %w", client.ErrBadPath), exitUsage},
		{bg, fmt.Errorf("x: %w", client.ErrNotFound), exitNotFound},
		{bg, fmt.Errorf("stat: %w", os.ErrNotExist), exitNotFound},
		{bg, errNotLoggedIn, exitAuth},
		{bg, fmt.Errorf("x: %w", client.ErrUnauthorized), exitAuth},
		{bg, fmt.Errorf("x: %w", client.ErrTOTPRequired), exitAuth},
		{bg, fmt.Errorf("x: %w", client.ErrTampered), exitTampered},
		{bg, fmt.Errorf("x: %w", client.ErrRollback), exitTampered},
		{bg, fmt.Errorf("x: %w", client.ErrUnavailable), exitUnavailable},
		{bg, hintErr(fmt.Errorf("x: %w", client.ErrExists), "h"), exitExists},
		{bg, fmt.Errorf("x: %w", &client.APIError{Status: 507, Code: api.CodeQuotaExceeded}), exitQuota},
		{bg, fmt.Errorf("x: %w", &client.APIError{Status: 429, Code: api.CodeTooMany}), exitTooMany},
		{bg, fmt.Errorf("x: %w", client.ErrBadLink), exitUsage},
		{bg, hintErr(fmt.Errorf("x: %w", client.ErrLinkPassword), "h"), exitAuth},
		{bg, hintErr(errNoLinkPassword, "h"), exitAuth},
		{bg, fmt.Errorf("x: %w", client.ErrReadOnly), exitAuth},
		{bg, fmt.Errorf("x: %w", client.ErrOutOfScope), exitAuth},
		{bg, fmt.Errorf("x: %w", client.ErrLinkRevoked), exitLinkInvalid},
		{bg, fmt.Errorf("x: %w", client.ErrLinkExpired), exitLinkInvalid},
		{bg, fmt.Errorf("x: %w", client.ErrLinkExhausted), exitLinkInvalid},
		{bg, fmt.Errorf("x: %w", client.ErrLinkGone), exitLinkInvalid},
		{bg, withContact(fmt.Errorf("x: %w", client.ErrKeyChanged), "b@example.org"), exitTampered},
		{bg, hintErr(fmt.Errorf("x: %w", errFingerprintMismatch), "h"), exitTampered},
		{cancelled, fmt.Errorf("put: %w", context.Canceled), exitInterrupted},
		{bg, fmt.Errorf("put: %w", context.Canceled), exitError},
	} {
		if got := exitCode(tc.ctx, tc.err); got != tc.want {
			t.Errorf("exitCode(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

// TestExitCodesDocumented keeps `nuage help exit-codes` in sync with the codes.
func TestExitCodesDocumented(t *testing.T) {
	codes := []int{exitOK, exitError, exitUsage, exitNotFound, exitAuth, exitTampered, exitUnavailable, exitExists, exitQuota, exitTooMany,
		exitLinkInvalid, exitInterrupted}
	seen := map[int]bool{}
	for _, c := range codes {
		if seen[c] {
			t.Errorf("exit code %d is used twice", c)
		}
		seen[c] = true
		if !regexp.MustCompile(fmt.Sprintf(`(?m)^  %d +\S`, c)).MatchString(exitCodesHelp) {
			t.Errorf("exit code %d is not documented", c)
		}
	}
	if n := len(regexp.MustCompile(`(?m)^  \d+ `).FindAllString(exitCodesHelp, -1)); n != len(codes) {
		t.Errorf("the help documents %d codes, the program has %d", n, len(codes))
	}
}
