package largestate

import (
	"sync/atomic"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
)

// measuringCodec wraps a payload codec (the SDK's zlib codec here) and
// counts what it does: bytes in and out and time spent, per direction.
// The compressed mode's client and worker both run in the driver process,
// so these counts cover every encode and decode of the mode.
type measuringCodec struct {
	inner   converter.PayloadCodec
	observe func(string, time.Duration)

	encCalls, encRaw, encOut, encNS atomic.Int64
	decCalls, decIn, decRaw, decNS  atomic.Int64
}

var _ converter.PayloadCodec = (*measuringCodec)(nil)

func size(ps []*commonpb.Payload) int64 {
	var n int64
	for _, p := range ps {
		n += int64(len(p.GetData()))
	}
	return n
}

func (c *measuringCodec) Encode(ps []*commonpb.Payload) ([]*commonpb.Payload, error) {
	t := time.Now()
	out, err := c.inner.Encode(ps)
	d := time.Since(t)
	if err == nil {
		c.encCalls.Add(1)
		c.encRaw.Add(size(ps))
		c.encOut.Add(size(out))
		c.encNS.Add(int64(d))
		if c.observe != nil {
			c.observe("codec-encode", d)
		}
	}
	return out, err
}

func (c *measuringCodec) Decode(ps []*commonpb.Payload) ([]*commonpb.Payload, error) {
	t := time.Now()
	out, err := c.inner.Decode(ps)
	d := time.Since(t)
	if err == nil {
		c.decCalls.Add(1)
		c.decIn.Add(size(ps))
		c.decRaw.Add(size(out))
		c.decNS.Add(int64(d))
		if c.observe != nil {
			c.observe("codec-decode", d)
		}
	}
	return out, err
}

// CodecStats is the compression's account (report details "compression").
type CodecStats struct {
	Codec         string  `json:"codec"`
	EncodeCalls   int64   `json:"encode_calls"`
	RawBytes      int64   `json:"raw_bytes"`
	EncodedBytes  int64   `json:"encoded_bytes"`
	Ratio         float64 `json:"ratio"` // raw / encoded
	EncodeMS      float64 `json:"encode_ms"`
	EncodeMBPerS  float64 `json:"encode_mb_per_s"`
	DecodeCalls   int64   `json:"decode_calls"`
	DecodedBytes  int64   `json:"decoded_raw_bytes"`
	DecodeMS      float64 `json:"decode_ms"`
	DecodeMBPerS  float64 `json:"decode_mb_per_s"`
	CPUPerMBRawMS float64 `json:"cpu_ms_per_raw_mb"` // encode + decode time per MiB of raw payload encoded
}

func (c *measuringCodec) stats() CodecStats {
	s := CodecStats{Codec: "zlib (converter.NewZlibCodec)", EncodeCalls: c.encCalls.Load(), RawBytes: c.encRaw.Load(),
		EncodedBytes: c.encOut.Load(), DecodeCalls: c.decCalls.Load(), DecodedBytes: c.decRaw.Load()}
	s.EncodeMS, s.DecodeMS = float64(c.encNS.Load())/1e6, float64(c.decNS.Load())/1e6
	if s.EncodedBytes > 0 {
		s.Ratio = float64(s.RawBytes) / float64(s.EncodedBytes)
	}
	const mib = 1 << 20
	if s.EncodeMS > 0 {
		s.EncodeMBPerS = float64(s.RawBytes) / mib / (s.EncodeMS / 1e3)
	}
	if s.DecodeMS > 0 {
		s.DecodeMBPerS = float64(s.DecodedBytes) / mib / (s.DecodeMS / 1e3)
	}
	if s.RawBytes > 0 {
		s.CPUPerMBRawMS = (s.EncodeMS + s.DecodeMS) / (float64(s.RawBytes) / mib)
	}
	return s
}
