package exitcode

import (
	"errors"
	"fmt"
	"testing"
)

func TestOf(t *testing.T) {
	cases := []struct {
		err  error
		want int
	}{
		{nil, Pass},
		{ErrVerdictFailed, Fail},
		{fmt.Errorf("run: %w", ErrVerdictFailed), Fail},
		{Usagef("bad --rate"), Usage},
		{fmt.Errorf("suite entry x: %w", Usagef("bad")), Usage},
		{ErrInterrupted, Interrupted},
		{errors.New("cluster lost"), RunError},
	}
	for _, c := range cases {
		if got := Of(c.err); got != c.want {
			t.Errorf("Of(%v) = %d, want %d", c.err, got, c.want)
		}
	}
}
