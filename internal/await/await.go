// Package await lets tests wait for a condition without sleeping for an
// event: it polls the condition until it holds or a deadline passes.
package await

import (
	"testing"
	"time"
)

// pollInterval is how often the condition is checked.
const pollInterval = 20 * time.Millisecond

// Cond polls cond until it returns true, failing the test with what when
// timeout passes first. cond runs on the test's goroutine, so it may call
// t.Fatal.
func Cond(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(pollInterval) // the polling interval, not a wait for an event
	}
}

// Within polls cond until it returns true or timeout passes, and reports
// whether it held: for a test that explains a failure itself.
func Within(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(pollInterval) // the polling interval, not a wait for an event
	}
	return true
}
