package reports

import (
	"bytes"
	"encoding/json"
	"strings"
)

// Streams and reports from before the continue-as-new rules had their own
// name carry them under "chapter" in can-sweep's recommendation, labelled
// "chapter: …". Reading one, the rules move to "rules" and their labels
// say what they are, so no report this squall writes has the old key.

// upgradeDetails upgrades the scenario details of an older stream or
// report in place.
func upgradeDetails(details map[string]json.RawMessage) {
	if raw, ok := details[detailRecommendation]; ok {
		details[detailRecommendation] = upgradeRecommendation(raw)
	}
}

// upgradeRecommendation returns raw with its "chapter" rules as "rules";
// raw itself when there is nothing to upgrade.
func upgradeRecommendation(raw json.RawMessage) json.RawMessage {
	if !bytes.Contains(raw, []byte(`"chapter"`)) {
		return raw
	}
	var rec map[string]json.RawMessage
	if err := json.Unmarshal(raw, &rec); err != nil {
		return raw
	}
	old, ok := rec["chapter"]
	if !ok {
		return raw
	}
	delete(rec, "chapter")
	var rules []map[string]json.RawMessage
	if err := json.Unmarshal(old, &rules); err == nil {
		for _, r := range rules {
			var label string
			if json.Unmarshal(r["rule"], &label) == nil && strings.HasPrefix(label, "chapter: ") {
				r["rule"], _ = json.Marshal("guidance: " + strings.TrimPrefix(label, "chapter: "))
			}
		}
		old, _ = json.Marshal(rules)
	}
	if _, has := rec["rules"]; !has {
		rec["rules"] = old
	}
	if s, ok := rec["summary"]; ok {
		rec["summary"] = bytes.ReplaceAll(s, []byte("chapter: "), []byte("guidance: "))
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return raw
	}
	return b
}
