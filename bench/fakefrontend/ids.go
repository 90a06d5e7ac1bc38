package fakefrontend

import (
	"strconv"
	"strings"
	"sync"

	"go.temporal.io/api/serviceerror"
)

// idSet is the set of workflow IDs started. An ID PREFIX-N (N a decimal
// number without leading zeros, below maxIndex) is one bit in PREFIX's
// bitmap; any other ID is kept by name, at most maxOther of them.
type idSet struct {
	mu       sync.Mutex
	bits     map[string][]uint64
	other    map[string]struct{}
	n        int64
	maxOther int
}

// maxIndex bounds N in PREFIX-N: a bitmap of 2^31 bits is 256 MiB, more
// than any run here needs, and a stray huge N must not allocate that.
const maxIndex = 1 << 30

// split cuts PREFIX-N; ok is false when id is not of that shape.
func split(id string) (prefix string, n int, ok bool) {
	i := strings.LastIndexByte(id, '-')
	if i < 0 || i == len(id)-1 {
		return "", 0, false
	}
	digits := id[i+1:]
	if len(digits) > 1 && digits[0] == '0' {
		return "", 0, false // "x-07" and "x-7" are different IDs
	}
	n, err := strconv.Atoi(digits)
	if err != nil || n < 0 || n >= maxIndex || strconv.Itoa(n) != digits {
		return "", 0, false
	}
	return id[:i], n, true
}

// add records id and says whether it is new. It refuses an ID that would
// grow the by-name set past its bound.
func (s *idSet) add(id string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if prefix, n, ok := split(id); ok {
		if s.bits == nil {
			s.bits = map[string][]uint64{}
		}
		b := s.bits[prefix]
		w := n / 64
		if w >= len(b) {
			grown := make([]uint64, max(w+1, 2*len(b)))
			copy(grown, b)
			b = grown
			s.bits[prefix] = b
		}
		if b[w]&(1<<(n%64)) != 0 {
			return false, nil
		}
		b[w] |= 1 << (n % 64)
		s.n++
		return true, nil
	}
	if _, ok := s.other[id]; ok {
		return false, nil
	}
	if len(s.other) >= s.maxOther {
		return false, serviceerror.NewResourceExhausted(0, "fake frontend: too many workflow IDs not of the shape PREFIX-N to remember")
	}
	if s.other == nil {
		s.other = map[string]struct{}{}
	}
	s.other[id] = struct{}{}
	s.n++
	return true, nil
}

func (s *idSet) has(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if prefix, n, ok := split(id); ok {
		b := s.bits[prefix]
		return n/64 < len(b) && b[n/64]&(1<<(n%64)) != 0
	}
	_, ok := s.other[id]
	return ok
}

func (s *idSet) len() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}
