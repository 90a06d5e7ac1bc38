package largestate

import (
	"crypto/sha256"
	"encoding/hex"
	"math/rand"
	"strconv"
)

var (
	regions  = [...]string{"eu-west", "eu-central", "us-east", "us-west", "ap-south", "ap-east"}
	statuses = [...]string{"new", "paid", "packed", "shipped", "delivered", "returned"}
)

// Chunk is step's slice of a workflow's dataset: size bytes of order
// records as JSON lines, generated from the seed (so the driver can
// recompute every byte to check nothing was lost). Realistic records
// compress about 3 to 4 times with zlib.
func Chunk(seed int64, step, size int) []byte {
	r := rand.New(rand.NewSource(seed*1_000_003 + int64(step)))
	b := make([]byte, 0, size+128)
	for n := 0; len(b) < size; n++ {
		b = append(b, `{"order":`...)
		b = strconv.AppendInt(b, int64(step)*10_000_000+int64(n), 10)
		b = append(b, `,"sku":"SKU-`...)
		b = strconv.AppendInt(b, 10000+int64(r.Intn(90000)), 10)
		b = append(b, `","qty":`...)
		b = strconv.AppendInt(b, 1+int64(r.Intn(9)), 10)
		b = append(b, `,"price_cents":`...)
		b = strconv.AppendInt(b, 100+int64(r.Intn(99900)), 10)
		b = append(b, `,"region":"`...)
		b = append(b, regions[r.Intn(len(regions))]...)
		b = append(b, `","status":"`...)
		b = append(b, statuses[r.Intn(len(statuses))]...)
		b = append(b, "\"}\n"...)
	}
	return b[:size]
}

// Expected is the checksum and size of a whole dataset of steps chunks.
func Expected(seed int64, steps, size int) (sum string, bytes int64) {
	h := sha256.New()
	for s := 0; s < steps; s++ {
		h.Write(Chunk(seed, s, size))
	}
	return hex.EncodeToString(h.Sum(nil)), int64(steps) * int64(size)
}

// ExpectedIDs is the checksum of the ids 0..n-1, each once, ascending, as
// decimal lines: what a complete set of checkpoints must add up to.
func ExpectedIDs(n int64) string {
	h := sha256.New()
	var b []byte
	for i := int64(0); i < n; i++ {
		b = strconv.AppendInt(b[:0], i, 10)
		b = append(b, '\n')
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))
}
