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

// browserPages are the report pages the browser test loads: every golden
// run, and the noop run given every scenario's details so the scenario
// plots without a golden stream (can-sweep, history) are drawn too.
func browserPages(t *testing.T) map[string]*Report {
	pages := map[string]*Report{}
	for _, g := range goldens {
		pages[strings.TrimSuffix(filepath.Base(g.path), ".results.jsonl")] = buildGolden(t, g.path)
	}
	rep := buildGolden(t, goldenStream)
	rep.Scenarios[0].Details = scenarioDetails(t)
	pages["all-scenario-plots"] = rep
	return pages
}

// TestReportPageInHeadlessChromium loads report.html pages in a real
// browser: no console error, every plot drawn with non-empty paths in the
// live DOM, and a screenshot of each to look at.
func TestReportPageInHeadlessChromium(t *testing.T) {
	bin := chromium(t)
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin), chromedp.NoSandbox,
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.WindowSize(1100, 900))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	actx, cancelA := chromedp.NewExecAllocator(ctx, opts...)
	defer cancelA()
	bctx, cancelB := chromedp.NewContext(actx)
	defer cancelB()

	var mu sync.Mutex
	var problems []string
	if err := chromedp.Listen(bctx, func(ev any) {
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
	}); err != nil {
		t.Fatalf("chromium %s: %v", bin, err)
	}

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
	const probe = `[...document.querySelectorAll('figure.plot')].map(f => {
		const svg = f.querySelector('svg'); const paths = svg ? [...svg.querySelectorAll('path')] : [];
		const r = svg ? svg.getBoundingClientRect() : {width: 0, height: 0};
		return {id: f.id, svgs: f.querySelectorAll('svg').length, paths: paths.length,
			drawn: paths.filter(p => { const b = p.getBBox(); return p.getTotalLength() > 0 && (b.width > 0 || b.height > 0); }).length,
			maxSegs: Math.max(0, ...paths.map(p => (p.getAttribute('d').match(/[ML]/g) || []).length)),
			widthPx: Math.round(r.width), heightPx: Math.round(r.height)};
	})`
	shots := t.TempDir()
	for name, rep := range browserPages(t) {
		dir := filepath.Join(t.TempDir(), name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := WriteAll(dir, rep); err != nil {
			t.Fatal(err)
		}
		page := filepath.Join(dir, FileHTML)
		// chromedp enables the Runtime and Log domains on attach: console
		// calls, exceptions and failed loads reach the listener above.
		err := chromedp.Do(bctx, chromedp.Navigate("file://"+page), chromedp.WaitReady("body"))
		var plots []plotState
		if err == nil {
			plots, err = chromedp.Run(bctx, chromedp.Evaluate[[]plotState](probe))
		}
		var shot []byte
		if err == nil {
			shot, err = chromedp.Run(bctx, chromedp.FullScreenshot(100))
		}
		if err != nil {
			t.Fatalf("chromium %s on %s: %v", bin, page, err)
		}
		mu.Lock()
		for _, p := range problems {
			t.Errorf("%s: browser reported: %s", name, p)
		}
		problems = nil
		mu.Unlock()

		want := 0
		for i := range rep.Scenarios {
			want += len(Figures(rep, &rep.Scenarios[i]))
		}
		if len(plots) != want || want < 3 {
			t.Errorf("%s: the page shows %d plots, the report has %d (want ≥ 3)", name, len(plots), want)
		}
		for _, p := range plots {
			if p.SVGs != 1 || p.Drawn < 10 || p.MaxSegs < 4 || p.WidthPx < 300 || p.HeightPx < 100 {
				t.Errorf("%s: plot %s not drawn: %+v", name, p.ID, p)
			}
		}
		png := filepath.Join(shots, name+".png")
		if err := os.WriteFile(png, shot, 0o644); err != nil {
			t.Fatal(err)
		}
		// SQUALL_SCREENSHOT_DIR keeps a copy where a person can open it
		// (the temp dir goes away with the test).
		if keep := os.Getenv("SQUALL_SCREENSHOT_DIR"); keep != "" {
			if err := os.WriteFile(filepath.Join(keep, name+".png"), shot, 0o644); err != nil {
				t.Errorf("keep screenshot: %v", err)
			}
		}
		t.Logf("%s: screenshot %s (%d plots, all drawn)", name, png, len(plots))
	}
}
