// Package browsertest drives headless Chromium from tests through chromedp.
// Only _test.go files import it, so chromedp never enters a herald binary.
package browsertest

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Start launches the Chromium at execPath, headless and isolated (a fresh
// temporary profile, no sandbox, no GPU, no background networking, QUIC,
// sync or component updates), and returns a chromedp context for one of its
// tabs, ready for [chromedp.Run] and [chromedp.Do]. The browser stops when
// the test ends.
//
// Every console.error call, uncaught exception, unhandled rejection and
// browser log entry at error level (a failed resource load, a blocked
// script) on the tab fails t, with the message, as it happens.
//
// Do not set a deadline on the returned context itself: derive one per step
// with context.WithTimeout, as chromedp's documentation advises.
func Start(t testing.TB, execPath string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(execPath),
		chromedp.NoSandbox,
		chromedp.Headless,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.WindowSize(1024, 900),
		// No UserDataDir: the allocator makes a fresh temporary profile for
		// this browser, kills Chromium's leftover child processes when it
		// stops, and removes the profile then.
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf), chromedp.WithErrorf(t.Logf))

	// The first Do starts the browser and binds its life to ctx, so ctx
	// has no deadline; the cleanup stops it.
	if err := chromedp.Do(ctx); err != nil {
		cancelTab()
		cancelAlloc()
		t.Fatalf("start chromium %s: %v", execPath, err)
	}

	var wg sync.WaitGroup
	messages := chromedp.Console(ctx)
	wg.Go(func() {
		for m, err := range messages {
			if err != nil {
				return // the tab's context ended
			}
			switch {
			case m.IsException(), m.Type == chromedp.ConsoleError:
				t.Errorf("browser %s at %s:%d", m, m.URL, m.Line+1)
			default:
				t.Logf("browser %s", m)
			}
		}
	})
	t.Cleanup(func() {
		cancelTab()
		wg.Wait()
		cancelAlloc()
	})
	return ctx
}

// Screenshot saves a PNG of the tab's viewport as name in t.TempDir() and
// logs its path.
func Screenshot(ctx context.Context, t testing.TB, name string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return
	}
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Errorf("screenshot %s: %v", name, err)
		return
	}
	t.Logf("screenshot: %s", path)
}

// Poll waits, checking every 20 ms for at most timeout, until the
// JavaScript expression expr is true in the tab, and fails t, saying it
// was waiting for what, when it is not by then.
func Poll(ctx context.Context, t testing.TB, timeout time.Duration, what, expr string) {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](expr,
		chromedp.WithPollingInterval(20*time.Millisecond),
		chromedp.WithPollingTimeout(timeout))); err != nil {
		t.Fatalf("waiting for %s: %v", what, err)
	}
}
