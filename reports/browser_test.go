package reports

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// chromium returns the path of a headless-capable chromium, installing
// Debian's package through the project's script when it is missing; the
// test is skipped only when that is impossible here.
func chromium(t *testing.T) string {
	t.Helper()
	_, file, _, _ := goruntime.Caller(0)
	script := filepath.Join(filepath.Dir(file), "..", "scripts", "ensure-chromium.sh")
	var stderr bytes.Buffer
	cmd := exec.Command("sh", script)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Skipf("no chromium and it cannot be installed here (%s: %v): %s", script, err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out))
}

// TestReportPageInHeadlessChromium loads report.html of the golden run in
// a real browser: no console error, every plot drawn with non-empty
// paths in the live DOM, and a screenshot to look at.
func TestReportPageInHeadlessChromium(t *testing.T) {
	bin := chromium(t)
	dir := t.TempDir()
	if err := WriteAll(dir, buildGolden(t, goldenStream)); err != nil {
		t.Fatal(err)
	}
	page := filepath.Join(dir, FileHTML)

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin), chromedp.NoSandbox,
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.WindowSize(1100, 900))
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	actx, cancelA := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelA()
	bctx, cancelB := chromedp.NewContext(actx)
	defer cancelB()

	var mu sync.Mutex
	var problems []string
	chromedp.Listen(bctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeWarning || e.Type == runtime.ConsoleAPICalledTypeAssert {
				var args []string
				for _, a := range e.Args {
					args = append(args, string(a.Value)+a.Description)
				}
				problems = append(problems, "console."+string(e.Type)+": "+strings.Join(args, " "))
			}
		case *runtime.EventExceptionThrown:
			problems = append(problems, "exception: "+e.ExceptionDetails.Text)
		case *log.EventEntryAdded:
			if e.Entry.Level == log.EntryLevelError || e.Entry.Level == log.EntryLevelWarning {
				problems = append(problems, "log "+string(e.Entry.Level)+": "+e.Entry.Text+" "+e.Entry.URL)
			}
		}
	})

	// Per plot: how many paths it has and how many of them the browser
	// laid out with a non-empty box (drawn, not just present in markup).
	type plotState struct {
		ID       string `json:"id"`
		SVGs     int    `json:"svgs"`
		Paths    int    `json:"paths"`
		Drawn    int    `json:"drawn"`
		MaxSegs  int    `json:"maxSegs"`
		WidthPx  int    `json:"widthPx"`
		HeightPx int    `json:"heightPx"`
	}
	var plots []plotState
	var shot []byte
	const probe = `[...document.querySelectorAll('figure.plot')].map(f => {
		const svg = f.querySelector('svg'); const paths = svg ? [...svg.querySelectorAll('path')] : [];
		const r = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
		return {id: f.id, svgs: f.querySelectorAll('svg').length, paths: paths.length,
			drawn: paths.filter(p => { const b = p.getBBox(); return p.getTotalLength() > 0 && (b.width > 0 || b.height > 0); }).length,
			maxSegs: Math.max(0, ...paths.map(p => (p.getAttribute('d').match(/[ML]/g) || []).length)),
			widthPx: Math.round(r.width), heightPx: Math.round(r.height)};
	})`
	// chromedp enables the Runtime and Log domains on attach: console
	// calls, exceptions and failed loads reach the listener above.
	err := chromedp.Do(bctx, chromedp.Navigate("file://"+page), chromedp.WaitReady("body"))
	if err == nil {
		plots, err = chromedp.Run(bctx, chromedp.Evaluate[[]plotState](probe))
	}
	if err == nil {
		shot, err = chromedp.Run(bctx, chromedp.FullScreenshot(100))
	}
	if err != nil {
		t.Fatalf("chromium %s on %s: %v", bin, page, err)
	}
	mu.Lock()
	for _, p := range problems {
		t.Errorf("browser reported: %s", p)
	}
	mu.Unlock()

	rep := buildGolden(t, goldenStream)
	want := len(Figures(rep, &rep.Scenarios[0]))
	if len(plots) != want || want < 4 {
		t.Errorf("the page shows %d plots, the report has %d (want ≥ 4)", len(plots), want)
	}
	for _, p := range plots {
		if p.SVGs != 1 || p.Drawn < 10 || p.MaxSegs < 5 || p.WidthPx < 300 || p.HeightPx < 100 {
			t.Errorf("plot %s not drawn: %+v", p.ID, p)
		}
	}
	png := filepath.Join(t.TempDir(), "report.png")
	if err := os.WriteFile(png, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	// SQUALL_SCREENSHOT keeps a copy where a person can open it (the temp
	// dir goes away with the test).
	if keep := os.Getenv("SQUALL_SCREENSHOT"); keep != "" {
		if err := os.WriteFile(keep, shot, 0o644); err != nil {
			t.Errorf("keep screenshot: %v", err)
		}
	}
	t.Logf("screenshot of %s: %s (%d plots: %+v)", page, png, len(plots), plots)
}
