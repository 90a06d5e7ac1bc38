package scenarios

import "sync"

// ParallelDo runs f(0..n-1) on at most workers goroutines and returns when
// all are done: drivers use it to describe or check many workflows at once
// without one goroutine per workflow.
func ParallelDo(n, workers int, f func(i int)) {
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(workers, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				f(i)
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}
