package alarm

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// ErrUnsupported is wrapped by Decode's error for a payload that is none of
// the three supported shapes. Its message starts with "unsupported event".
var ErrUnsupported = errors.New("unsupported event")

// ErrInvalid is wrapped by Decode's error for a payload of a supported shape
// that lacks what a scaling decision needs (alarm name, state, time).
var ErrInvalid = errors.New("invalid alarm event")

const (
	cloudWatchSource     = "aws.cloudwatch"
	stateChangeDetail    = "CloudWatch Alarm State Change"
	snsEventSource       = "aws:sns"
	maxDescribedKeys     = 8
	maxDescribedValueLen = 64
)

// envelope holds just enough of any payload to tell the shapes apart.
type envelope struct {
	Source     string            `json:"source"`
	DetailType string            `json:"detail-type"`
	AlarmData  json.RawMessage   `json:"alarmData"`
	Detail     json.RawMessage   `json:"detail"`
	Records    []json.RawMessage `json:"Records"`
}

// Decode detects the payload shape and returns the normalised state change.
// It never returns a partially valid StateChange: on error the value is zero.
func Decode(payload []byte) (StateChange, error) {
	payload = bytes.TrimSpace(payload)
	if len(payload) == 0 || payload[0] != '{' {
		return StateChange{}, fmt.Errorf("%w: payload is not a JSON object", ErrUnsupported)
	}
	var env envelope
	if err := json.Unmarshal(payload, &env); err != nil {
		return StateChange{}, fmt.Errorf("%w: %s", ErrUnsupported, shortJSONError(err))
	}
	var (
		sc  StateChange
		err error
	)
	switch {
	case env.Source == cloudWatchSource && isObject(env.AlarmData):
		sc, err = decodeDirect(payload)
	case env.Source == cloudWatchSource && env.DetailType != "":
		if env.DetailType != stateChangeDetail {
			return StateChange{}, fmt.Errorf("%w: EventBridge detail-type %q is not %q",
				ErrUnsupported, clip(env.DetailType), stateChangeDetail)
		}
		sc, err = decodeEventBridge(payload)
	case len(env.Records) > 0:
		sc, err = decodeSNS(env.Records)
	default:
		return StateChange{}, fmt.Errorf("%w: %s", ErrUnsupported, describe(payload, env))
	}
	if err != nil {
		return StateChange{}, err
	}
	if err := sc.validate(); err != nil {
		return StateChange{}, err
	}
	return sc, nil
}

func decodeDirect(payload []byte) (StateChange, error) {
	var ev DirectEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return StateChange{}, fmt.Errorf("%w: alarm action payload: %s", ErrInvalid, shortJSONError(err))
	}
	sc := fromAlarmData(&ev.AlarmData, SourceDirect)
	sc.AlarmARN = ev.AlarmARN
	sc.Region, sc.AccountID = ev.Region, ev.AccountID
	fillFromARN(&sc)
	return sc, nil
}

func decodeEventBridge(payload []byte) (StateChange, error) {
	var ev events.CloudWatchEvent
	if err := json.Unmarshal(payload, &ev); err != nil {
		return StateChange{}, fmt.Errorf("%w: EventBridge event: %s", ErrInvalid, shortJSONError(err))
	}
	var data AlarmData
	if !isObject(ev.Detail) {
		return StateChange{}, fmt.Errorf("%w: EventBridge event without a detail object", ErrInvalid)
	}
	if err := json.Unmarshal(ev.Detail, &data); err != nil {
		return StateChange{}, fmt.Errorf("%w: EventBridge detail: %s", ErrInvalid, shortJSONError(err))
	}
	sc := fromAlarmData(&data, SourceEventBridge)
	for _, r := range ev.Resources {
		if strings.HasPrefix(r, "arn:") && strings.Contains(r, ":alarm:") {
			sc.AlarmARN = r
			break
		}
	}
	sc.Region, sc.AccountID = ev.Region, ev.AccountID
	fillFromARN(&sc)
	return sc, nil
}

func decodeSNS(records []json.RawMessage) (StateChange, error) {
	if len(records) != 1 {
		return StateChange{}, fmt.Errorf("%w: %d records; an SNS delivery to Lambda has exactly one", ErrUnsupported, len(records))
	}
	var rec events.SNSEventRecord
	if err := json.Unmarshal(records[0], &rec); err != nil {
		return StateChange{}, fmt.Errorf("%w: record: %s", ErrUnsupported, shortJSONError(err))
	}
	if rec.EventSource != snsEventSource {
		return StateChange{}, fmt.Errorf("%w: record from event source %q", ErrUnsupported, clip(rec.EventSource))
	}
	msg := strings.TrimSpace(rec.SNS.Message)
	if !strings.HasPrefix(msg, "{") {
		return StateChange{}, fmt.Errorf("%w: SNS message is not a CloudWatch alarm notification", ErrUnsupported)
	}
	var p events.CloudWatchAlarmSNSPayload
	if err := json.Unmarshal([]byte(msg), &p); err != nil {
		return StateChange{}, fmt.Errorf("%w: SNS message: %s", ErrUnsupported, shortJSONError(err))
	}
	if p.AlarmName == "" || p.NewStateValue == "" {
		return StateChange{}, fmt.Errorf("%w: SNS message is not a CloudWatch alarm notification", ErrUnsupported)
	}
	sc := StateChange{
		Source:             SourceSNS,
		AlarmName:          p.AlarmName,
		AlarmARN:           p.AlarmARN,
		State:              p.NewStateValue,
		PreviousState:      p.OldStateValue,
		Reason:             p.NewStateReason,
		ComparisonOperator: p.Trigger.ComparisonOperator,
		// The SNS payload's Region is a display name ("US East (N. Virginia)");
		// fillFromARN replaces it with the code when the ARN has one.
		Region:    p.Region,
		AccountID: p.AWSAccountID,
	}
	sc.Timestamp, _ = parseTime(p.StateChangeTime)
	sc.ReasonData = parseReasonText(p.NewStateReason)
	if !sc.ReasonData.HasThreshold && sc.ComparisonOperator != "" && finite(p.Trigger.Threshold) {
		sc.ReasonData.Threshold, sc.ReasonData.HasThreshold = p.Trigger.Threshold, true
	}
	if sc.ComparisonOperator == "" {
		sc.ComparisonOperator = inferOperator(sc.Reason)
	}
	fillFromARN(&sc)
	return sc, nil
}

func fromAlarmData(d *AlarmData, src Source) StateChange {
	sc := StateChange{
		Source:        src,
		AlarmName:     d.AlarmName,
		State:         d.State.Value,
		PreviousState: d.PreviousState.Value,
		Reason:        d.State.Reason,
	}
	sc.Timestamp, _ = parseTime(d.State.Timestamp)
	rd, ok := parseReasonData(d.State.ReasonData)
	if !ok {
		rd = parseReasonText(d.State.Reason)
	}
	if !rd.HasThreshold && d.Configuration.Threshold != nil && finite(*d.Configuration.Threshold) {
		rd.Threshold, rd.HasThreshold = *d.Configuration.Threshold, true
	}
	sc.ReasonData = rd
	sc.ComparisonOperator = d.Configuration.ComparisonOperator
	if sc.ComparisonOperator == "" {
		sc.ComparisonOperator = inferOperator(sc.Reason)
	}
	return sc
}

func (s *StateChange) validate() error {
	var missing []string
	if s.AlarmName == "" {
		missing = append(missing, "alarm name")
	}
	switch s.State {
	case StateOK, StateAlarm, StateInsufficientData:
	case "":
		missing = append(missing, "state")
	default:
		return fmt.Errorf("%w: unknown alarm state %q", ErrInvalid, clip(s.State))
	}
	if s.Timestamp.IsZero() {
		missing = append(missing, "state change time")
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: missing or unparsable %s", ErrInvalid, strings.Join(missing, ", "))
	}
	return nil
}

var regionRE = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-\d+$`)

// fillFromARN takes region and account from the alarm ARN
// (arn:PARTITION:cloudwatch:REGION:ACCOUNT:alarm:NAME) when they look valid.
func fillFromARN(s *StateChange) {
	parts := strings.SplitN(s.AlarmARN, ":", 7)
	if len(parts) != 7 || parts[0] != "arn" || parts[2] != "cloudwatch" {
		return
	}
	if regionRE.MatchString(parts[3]) {
		s.Region = parts[3]
	}
	if s.AccountID == "" && isDigits(parts[4]) {
		s.AccountID = parts[4]
	}
}

var timeLayouts = []string{
	"2006-01-02T15:04:05.000-0700", // CloudWatch alarm payloads
	"2006-01-02T15:04:05-0700",
	time.RFC3339Nano,
}

func parseTime(v string) (time.Time, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return time.Time{}, false
	}
	for _, l := range timeLayouts {
		if t, err := time.Parse(l, v); err == nil {
			if t.Year() < 1970 || t.Year() > 9999 {
				return time.Time{}, false
			}
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// reasonDataJSON is the documented reasonData document of a metric alarm.
type reasonDataJSON struct {
	RecentDatapoints []float64 `json:"recentDatapoints"`
	Threshold        *float64  `json:"threshold"`
}

// parseReasonData reads reasonData, given either as a JSON string holding the
// document (as AWS sends it) or as the document itself. ok is false when
// there is nothing usable, so the caller can fall back to the reason text.
func parseReasonData(raw json.RawMessage) (ReasonData, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return ReasonData{}, false
	}
	doc := []byte(raw)
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return ReasonData{}, false
		}
		doc = []byte(s)
	}
	var rd reasonDataJSON
	if err := json.Unmarshal(doc, &rd); err != nil {
		return ReasonData{}, false
	}
	out := ReasonData{RecentDatapoints: keepFinite(rd.RecentDatapoints)}
	if rd.Threshold != nil && finite(*rd.Threshold) {
		out.Threshold, out.HasThreshold = *rd.Threshold, true
	}
	if len(out.RecentDatapoints) == 0 && !out.HasThreshold {
		return ReasonData{}, false
	}
	return out, true
}

// parseReasonText reads datapoints and threshold from a reason such as
// "Threshold Crossed: 1 out of the last 1 datapoints [1234.0 (06/03/15 17:43:27)]
// was greater than the threshold (0.0) ...". SNS notifications carry no
// structured reason data, so this is their only source.
func parseReasonText(reason string) ReasonData {
	var rd ReasonData
	if i := strings.Index(reason, "datapoint"); i >= 0 {
		rest := reason[i:]
		if k := strings.IndexByte(rest, '['); k >= 0 {
			rest = rest[k+1:]
		} else {
			rest = ""
		}
		if j := strings.IndexByte(rest, ']'); j >= 0 {
			for _, item := range strings.Split(rest[:j], ",") {
				item = strings.TrimSpace(item)
				if k := strings.IndexByte(item, ' '); k >= 0 {
					item = item[:k]
				}
				if v, err := strconv.ParseFloat(item, 64); err == nil && finite(v) {
					rd.RecentDatapoints = append(rd.RecentDatapoints, v)
				}
			}
		}
	}
	if i := strings.Index(reason, "threshold ("); i >= 0 {
		rest := reason[i+len("threshold ("):]
		if j := strings.IndexByte(rest, ')'); j >= 0 {
			if v, err := strconv.ParseFloat(strings.TrimSpace(rest[:j]), 64); err == nil && finite(v) {
				rd.Threshold, rd.HasThreshold = v, true
			}
		}
	}
	return rd
}

// inferOperator reads the comparison from the reason text ("was greater
// than", "were not less than or equal to", ...). The operator is named in
// both directions of a transition, so "not greater than" still says
// GreaterThan.
func inferOperator(reason string) string {
	r := strings.ToLower(reason)
	switch {
	case strings.Contains(r, "less than or equal to the threshold"):
		return "LessThanOrEqualToThreshold"
	case strings.Contains(r, "less than the threshold"):
		return "LessThanThreshold"
	case strings.Contains(r, "greater than or equal to the threshold"):
		return "GreaterThanOrEqualToThreshold"
	case strings.Contains(r, "greater than the threshold"):
		return "GreaterThanThreshold"
	}
	return ""
}

func isObject(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && raw[0] == '{'
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }

func keepFinite(vs []float64) []float64 {
	out := vs[:0]
	for _, v := range vs {
		if finite(v) {
			out = append(out, v)
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// describe summarises an unsupported payload for the error message: its
// source / detail-type when present, else its top-level keys.
func describe(payload []byte, env envelope) string {
	if env.Source != "" {
		if env.DetailType != "" {
			return fmt.Sprintf("source %q, detail-type %q", clip(env.Source), clip(env.DetailType))
		}
		return fmt.Sprintf("source %q without alarmData", clip(env.Source))
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(payload, &top); err != nil || len(top) == 0 {
		return "empty JSON object"
	}
	keys := make([]string, 0, len(top))
	for k := range top {
		keys = append(keys, clip(k))
	}
	sort.Strings(keys)
	more := ""
	if len(keys) > maxDescribedKeys {
		more = fmt.Sprintf(" (+%d more)", len(keys)-maxDescribedKeys)
		keys = keys[:maxDescribedKeys]
	}
	return fmt.Sprintf("not a CloudWatch alarm payload (keys: %s%s)", strings.Join(keys, ", "), more)
}

func clip(s string) string {
	if len(s) <= maxDescribedValueLen {
		return s
	}
	return s[:maxDescribedValueLen] + "..."
}

// shortJSONError keeps decoder errors readable (no payload echo).
func shortJSONError(err error) string {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Sprintf("malformed JSON at offset %d", se.Offset)
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("field %q has the wrong type (%s)", clip(te.Field), te.Value)
	}
	return clip(err.Error())
}
