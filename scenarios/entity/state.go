package entity

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
)

// StateVersion is the schema version this code writes. Runs carry their state
// across continue-as-new as JSON with a "version" field; DecodeState migrates
// every older version it knows to this one.
const StateVersion = 2

// RecentMax bounds the recent-transactions window kept in the state: the
// state must stay compact (it travels in every continue-as-new, 2 MiB per
// payload at most), so it holds summaries, never the full list.
const RecentMax = 8

// Tx is one transaction: the payload of the "tx" signal.
type Tx struct {
	ID     int64 `json:"id"`     // unique per run of squall (the iteration number)
	Amount int64 `json:"amount"` // cents; negative amounts are withdrawals
	// SentUnixNano is the driver's wall clock when it sent the signal. The
	// driver and the workers run on one machine, so the clocks agree.
	SentUnixNano int64 `json:"sent_unix_nano"`
	// DueUnixNano is the signal's intended send time (its place in the
	// open-loop schedule); signal-to-processed is measured from it, so a
	// late send shows in the figure. 0 in histories recorded before it.
	DueUnixNano int64 `json:"due_unix_nano,omitempty"`
}

// origin is where signal-to-processed starts: the intended send time,
// or the actual one where none was recorded.
func (t Tx) origin() time.Time {
	if t.DueUnixNano != 0 {
		return time.Unix(0, t.DueUnixNano)
	}
	return time.Unix(0, t.SentUnixNano)
}

// State is the entity's current (v2) state: an account with a balance and a
// compact record of what it processed.
type State struct {
	Version  int    `json:"version"`
	EntityID string `json:"entity_id"`
	// Balance in cents.
	Balance int64 `json:"balance"`
	// TxCount and IDHash let the driver check exactly-once processing
	// without a list of ids: IDHash is the sum (mod 2^64) of IDHashOf(id)
	// over every processed transaction. A duplicate or a lost transaction
	// changes the count or the hash.
	TxCount int64  `json:"tx_count"`
	IDHash  uint64 `json:"id_hash"`
	// Recent holds the last RecentMax transactions, newest last.
	Recent []Tx `json:"recent,omitempty"`
	// Runs counts the runs of this entity, the current one included.
	Runs int `json:"runs"`
	// CANBy counts continue-as-new by reason ("events", "suggested", "age").
	CANBy map[string]int `json:"can_by,omitempty"`
	// MaxRunLength/MaxRunBytes: the largest history (events, bytes) any
	// earlier run reported at its continue-as-new.
	MaxRunLength int `json:"max_run_length"`
	MaxRunBytes  int `json:"max_run_bytes"`
	// MigratedFrom is the schema version the state was migrated from (0: none).
	MigratedFrom int `json:"migrated_from,omitempty"`
	// Answers are the latest AnswersMax update answers, by transaction id,
	// carried across continue-as-new: the server deduplicates update ids
	// within one run only, and an update it aborted while the run
	// continued may be delivered again to the next run after it was
	// applied. Such a repeat gets the original answer, never a second
	// application.
	Answers []IDAnswer `json:"answers,omitempty"`
}

// IDAnswer is one remembered update answer.
type IDAnswer struct {
	ID     int64    `json:"id"`
	Answer TxAnswer `json:"answer"`
}

// AnswersMax bounds the remembered answers (the state travels in every
// continue-as-new). A repeat arrives within moments of the boundary.
const AnswersMax = 256

// remember records an update's answer, keeping the latest AnswersMax.
func (s *State) remember(id int64, a TxAnswer) {
	s.Answers = append(s.Answers, IDAnswer{ID: id, Answer: a})
	if n := len(s.Answers); n > AnswersMax {
		s.Answers = append(s.Answers[:0], s.Answers[n-AnswersMax:]...)
	}
}

// StateV1 is the first schema: a float
// balance and the full list of transactions. Runs that continued-as-new with
// it are migrated by DecodeState.
type StateV1 struct {
	Version      int            `json:"version"`
	EntityID     string         `json:"entity_id"`
	Balance      float64        `json:"balance"` // currency units
	Transactions []TxV1         `json:"transactions"`
	Metadata     map[string]any `json:"metadata,omitempty"`
}

// TxV1 is a transaction in the v1 schema.
type TxV1 struct {
	ID     int64   `json:"id"`
	Amount float64 `json:"amount"` // currency units
}

// NewState is the state of a fresh entity.
func NewState(entityID string) State {
	return State{Version: StateVersion, EntityID: entityID}
}

// Apply books tx.
func (s *State) Apply(tx Tx) {
	s.Balance += tx.Amount
	s.TxCount++
	s.IDHash += IDHashOf(tx.ID)
	s.Recent = append(s.Recent, tx)
	if n := len(s.Recent); n > RecentMax {
		s.Recent = append(s.Recent[:0], s.Recent[n-RecentMax:]...)
	}
}

// DecodeState turns the JSON state a previous run passed on into the current
// schema. Empty input is a fresh entity. Versions newer than this code knows
// are an error (a rollback must not silently drop fields).
func DecodeState(raw json.RawMessage, entityID string) (State, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return NewState(entityID), nil
	}
	var head struct {
		Version *int `json:"version"`
	}
	if err := json.Unmarshal(raw, &head); err != nil {
		return State{}, fmt.Errorf("entity state: %w", err)
	}
	v := 1 // a state without a version predates versions: v1
	if head.Version != nil {
		v = *head.Version
	}
	switch v {
	case 1:
		var old StateV1
		if err := json.Unmarshal(raw, &old); err != nil {
			return State{}, fmt.Errorf("entity state v1: %w", err)
		}
		return MigrateV1(old), nil
	case 2:
		var s State
		if err := json.Unmarshal(raw, &s); err != nil {
			return State{}, fmt.Errorf("entity state v2: %w", err)
		}
		return s, nil
	default:
		return State{}, fmt.Errorf("entity state: unknown schema version %d (this code knows 1 and %d)", v, StateVersion)
	}
}

// EncodeState serializes s for continue-as-new.
func EncodeState(s State) (json.RawMessage, error) {
	if s.Version != StateVersion {
		return nil, errors.New("entity state: refusing to encode a state that is not the current version")
	}
	return json.Marshal(s)
}

// MigrateV1 converts a v1 state: the float balance becomes cents, the full
// transaction list becomes count, id hash and the recent window.
func MigrateV1(old StateV1) State {
	s := NewState(old.EntityID)
	s.Balance = int64(math.Round(old.Balance * 100))
	for _, t := range old.Transactions {
		s.TxCount++
		s.IDHash += IDHashOf(t.ID)
		s.Recent = append(s.Recent, Tx{ID: t.ID, Amount: int64(math.Round(t.Amount * 100))})
	}
	if n := len(s.Recent); n > RecentMax {
		s.Recent = append([]Tx(nil), s.Recent[n-RecentMax:]...)
	}
	// A v1 state carries no run count; the run that wrote it was at least one.
	s.Runs = 1
	s.MigratedFrom = 1
	return s
}

// IDHashOf is splitmix64 of id: a well-mixed 64-bit value whose sum over a
// set of ids is a compact, order-independent fingerprint of the set.
func IDHashOf(id int64) uint64 {
	z := uint64(id) + 0x9e3779b97f4a7c15
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// AmountOf is the deterministic amount of transaction id, in cents, in
// [-10000, 10000]: deposits and withdrawals.
func AmountOf(id int64) int64 {
	return int64(IDHashOf(id^0x5eed)%20001) - 10000
}
