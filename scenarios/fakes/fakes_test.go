package fakes

import (
	"context"
	"errors"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

func TestMaxInWindow(t *testing.T) {
	s := int64(time.Second)
	for _, tc := range []struct {
		name string
		at   []int64
		win  time.Duration
		want int
	}{
		{"empty", nil, time.Second, 0},
		{"one", []int64{5}, time.Second, 1},
		{"spaced exactly one window apart", []int64{0, s, 2 * s, 3 * s}, time.Second, 1},
		{"just inside", []int64{0, s - 1, 2*s - 2}, time.Second, 2},
		{"burst straddling a bucket boundary", []int64{0, s - 3, s - 2, s - 1, s + 1, s + 2, 3 * s}, time.Second, 5},
		{"equal times", []int64{7, 7, 7, 7}, time.Nanosecond, 4},
		{"later peak", []int64{0, 10 * s, 10*s + 1, 10*s + 2}, time.Second, 3},
	} {
		if got := MaxInWindow(tc.at, tc.win).Max; got != tc.want {
			t.Errorf("%s: MaxInWindow = %d, want %d", tc.name, got, tc.want)
		}
	}
}

// Brute force against the two-pointer version on random inputs.
func TestMaxInWindowMatchesBruteForce(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for n := 0; n < 300; n++ {
		at := make([]int64, r.Intn(40))
		var x int64
		for i := range at {
			x += int64(r.Intn(400))
			at[i] = x
		}
		win := time.Duration(1 + r.Intn(1500))
		want := 0
		for i := range at {
			c := 0
			for j := range at {
				if at[j] >= at[i] && at[j] < at[i]+int64(win) {
					c++
				}
			}
			want = max(want, c)
		}
		if got := MaxInWindow(at, win).Max; got != want {
			t.Fatalf("%v window %d: got %d want %d", at, win, got, want)
		}
	}
}

// The service's own online limiter and the offline check over its log
// agree: a window over the limit exists exactly when a 429 was answered.
func TestServiceLimitAgreesWithLogCheck(t *testing.T) {
	for _, tc := range []struct {
		name     string
		parallel int
		gap      time.Duration
		wantOver bool
	}{
		{"slow client stays under", 1, 30 * time.Millisecond, false},
		{"burst goes over", 8, 0, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc, err := Start(Config{Name: "test." + tc.name, Limit: 5, Window: 100 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer svc.Close()
			var wg sync.WaitGroup
			for p := 0; p < tc.parallel; p++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := 0; i < 12; i++ {
						_, err := Call(context.Background(), svc.URL, "k")
						var se *StatusError
						if err != nil && !(errors.As(err, &se) && se.Status == http.StatusTooManyRequests) {
							t.Error(err)
						}
						time.Sleep(tc.gap)
					}
				}()
			}
			wg.Wait()
			c := svc.Counts()
			peak := MaxInWindow(Arrivals(svc.Log(), nil), 100*time.Millisecond)
			if over := peak.Max > 5; over != (c.Throttled > 0) || over != tc.wantOver {
				t.Errorf("peak %d in a window (limit 5), %d throttled: want over=%v and agreement", peak.Max, c.Throttled, tc.wantOver)
			}
			if c.Requests != int64(12*tc.parallel) || c.OK+c.Throttled != c.Requests {
				t.Errorf("counts %+v", c)
			}
			acc := MaxInWindow(Arrivals(svc.Log(), func(e Entry) bool { return e.Status == http.StatusOK }), 100*time.Millisecond)
			if acc.Max > 5 {
				t.Errorf("%d accepted within one window: the service's own limit was not enforced", acc.Max)
			}
		})
	}
}

func TestSetModeSwitchesFailures(t *testing.T) {
	svc, err := Start(Config{Name: "test.mode", Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer svc.Close()
	ctx := context.Background()
	if _, err := Call(ctx, svc.URL, "a"); err != nil {
		t.Fatal(err)
	}
	if err := svc.SetMode(1, 20*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err = Call(ctx, svc.URL, "b")
	var se *StatusError
	if !errors.As(err, &se) || se.Status != http.StatusServiceUnavailable {
		t.Fatalf("error rate 1: got %v, want 503", err)
	}
	if time.Since(start) < 20*time.Millisecond {
		t.Error("latency not applied")
	}
	if err := svc.SetMode(0, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := Call(ctx, svc.URL, "c"); err != nil {
		t.Fatal(err)
	}
	if err := svc.SetMode(1.5, 0); err == nil {
		t.Error("error rate 1.5 accepted")
	}
	c := svc.Counts()
	if c.Requests != 3 || c.OK != 2 || c.Failed != 1 || len(svc.ModeChanges()) != 2 {
		t.Errorf("counts %+v, %d mode changes", c, len(svc.ModeChanges()))
	}
	if s, ok := Find("test.mode"); !ok || s != svc {
		t.Error("Find does not return the running service")
	}
	if _, err := Start(Config{Name: "test.mode"}); err == nil {
		t.Error("duplicate name accepted")
	}
}

// The middleware refuses before the wrapped handler sees the request,
// delays what it lets through, and heals.
func TestFaultsMiddleware(t *testing.T) {
	f := NewFaults(1)
	var reached int
	h := f.Middleware(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { reached++ }))
	serve := func() (int, time.Duration) {
		rec := httptest.NewRecorder()
		t0 := time.Now()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		return rec.Code, time.Since(t0)
	}
	f.SetFaults(2, 0) // clamped to 1: every request refused
	if code, _ := serve(); code != http.StatusServiceUnavailable || reached != 0 || f.Refused() != 1 {
		t.Fatalf("refusal: code %d, reached %d, refused %d", code, reached, f.Refused())
	}
	f.SetFaults(0, 30*time.Millisecond)
	if code, took := serve(); code != http.StatusOK || reached != 1 || took < 30*time.Millisecond {
		t.Fatalf("latency: code %d, reached %d, took %s", code, reached, took)
	}
	f.SetFaults(0, 0)
	if code, _ := serve(); code != http.StatusOK || reached != 2 || f.Refused() != 1 || len(f.Changes()) != 3 {
		t.Fatalf("healed: code %d, reached %d, refused %d, %d changes", code, reached, f.Refused(), len(f.Changes()))
	}
	if err := f.Set(-0.1, 0); err == nil {
		t.Fatal("a negative error rate was accepted")
	}
}
