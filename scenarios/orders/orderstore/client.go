package orderstore

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"go.temporal.io/sdk/temporal"
)

// Client talks to a Store over HTTP (the activities' side).
type Client struct {
	HTTP *http.Client
}

// DefaultClient keeps enough idle connections for hundreds of concurrent
// activities against one loopback store.
var DefaultClient = &Client{HTTP: &http.Client{
	Timeout: 30 * time.Second,
	Transport: &http.Transport{
		MaxIdleConns:        512,
		MaxIdleConnsPerHost: 512,
		IdleConnTimeout:     90 * time.Second,
	},
}}

// Orders fetches orders [from,to) of batch b.
func (c *Client) Orders(ctx context.Context, url string, b, from, to int64) ([]Order, error) {
	var out OrdersResponse
	err := c.do(ctx, http.MethodGet, fmt.Sprintf("%s/batches/%d/orders?from=%d&to=%d", url, b, from, to), nil, &out)
	return out.Orders, err
}

// Apply applies req.IDs of batch b and returns one status byte per id.
func (c *Client) Apply(ctx context.Context, url string, b int64, req ApplyRequest) (string, error) {
	var out ApplyResponse
	if err := c.do(ctx, http.MethodPost, fmt.Sprintf("%s/batches/%d/apply", url, b), req, &out); err != nil {
		return "", err
	}
	if len(out.Status) != len(req.IDs) {
		return "", fmt.Errorf("order store answered %d statuses for %d ids", len(out.Status), len(req.IDs))
	}
	return out.Status, nil
}

// Reduce records a reduce step's totals for batch b.
func (c *Client) Reduce(ctx context.Context, url string, b int64, req ReduceRequest) error {
	return c.do(ctx, http.MethodPost, fmt.Sprintf("%s/batches/%d/reduce", url, b), req, nil)
}

func (c *Client) do(ctx context.Context, method, url string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return fmt.Errorf("order store: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		err := fmt.Errorf("order store: %s %s: %s: %s", method, url, resp.Status, bytes.TrimSpace(msg))
		if resp.StatusCode/100 == 4 {
			// The store refused the request itself (unknown batch, bad
			// body): a bug, not a fault; retrying until the deadline would
			// only hide it for minutes.
			return temporal.NewNonRetryableApplicationError(err.Error(), "OrderStoreRejected", nil)
		}
		return err
	}
	if out == nil {
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("order store: decode %s: %w", url, err)
	}
	return nil
}
