// Package alarm decodes the three shapes in which a CloudWatch alarm state
// change can reach the scaling function and normalises them to StateChange:
//
//  1. the alarm invoking the function directly as its alarm action
//     (source "aws.cloudwatch" with "alarmData"; aws-lambda-go has no struct
//     for it, so DirectEvent below follows AWS's documented sample),
//  2. an EventBridge "CloudWatch Alarm State Change" event
//     (events.CloudWatchEvent whose detail has the AlarmData shape),
//  3. an SNS notification whose message is events.CloudWatchAlarmSNSPayload.
//
// Anything else is rejected with an error wrapping ErrUnsupported.
package alarm

import (
	"encoding/json"
	"time"
)

// Alarm state values.
const (
	StateOK               = "OK"
	StateAlarm            = "ALARM"
	StateInsufficientData = "INSUFFICIENT_DATA"
)

// Source names the delivery shape an event arrived in.
type Source string

// Delivery shapes.
const (
	SourceDirect      Source = "alarm-action"
	SourceEventBridge Source = "eventbridge"
	SourceSNS         Source = "sns"
)

// DirectEvent is the payload CloudWatch sends when an alarm invokes a Lambda
// function directly as an alarm action (documented in the CloudWatch user
// guide, "Lambda alarm actions" / Lambda-action-payload).
type DirectEvent struct {
	Source    string    `json:"source"`
	AlarmARN  string    `json:"alarmArn"`
	AccountID string    `json:"accountId"`
	Time      string    `json:"time"`
	Region    string    `json:"region"`
	AlarmData AlarmData `json:"alarmData"`
}

// AlarmData is the alarm part of a direct invocation; the detail of an
// EventBridge "CloudWatch Alarm State Change" event has the same shape.
type AlarmData struct {
	AlarmName     string             `json:"alarmName"`
	State         AlarmState         `json:"state"`
	PreviousState AlarmState         `json:"previousState"`
	Configuration AlarmConfiguration `json:"configuration"`
}

// AlarmState is one side of a state transition. ReasonData is a JSON document
// encoded as a string in AWS's samples; RawMessage accepts a string or an object.
type AlarmState struct {
	Value                   string          `json:"value"`
	Reason                  string          `json:"reason"`
	ReasonData              json.RawMessage `json:"reasonData,omitempty"`
	Timestamp               string          `json:"timestamp"`
	ActionsSuppressedBy     string          `json:"actionsSuppressedBy,omitempty"`
	ActionsSuppressedReason string          `json:"actionsSuppressedReason,omitempty"`
}

// AlarmConfiguration is the alarm definition sent with the state change.
// Metric alarms carry Metrics, composite alarms AlarmRule.
type AlarmConfiguration struct {
	Description        string        `json:"description,omitempty"`
	AlarmRule          string        `json:"alarmRule,omitempty"`
	ComparisonOperator string        `json:"comparisonOperator,omitempty"`
	Threshold          *float64      `json:"threshold,omitempty"`
	Metrics            []AlarmMetric `json:"metrics,omitempty"`
}

// AlarmMetric is one metric (or metric math expression) of an alarm.
type AlarmMetric struct {
	ID         string      `json:"id"`
	MetricStat *MetricStat `json:"metricStat,omitempty"`
	Expression string      `json:"expression,omitempty"`
	Label      string      `json:"label,omitempty"`
	ReturnData bool        `json:"returnData"`
}

// MetricStat is a metric with its statistic and period.
type MetricStat struct {
	Metric Metric `json:"metric"`
	Period int64  `json:"period"`
	Stat   string `json:"stat"`
	Unit   string `json:"unit,omitempty"`
}

// Metric identifies a CloudWatch metric.
type Metric struct {
	Namespace  string            `json:"namespace"`
	Name       string            `json:"name"`
	Dimensions map[string]string `json:"dimensions,omitempty"`
}

// ReasonData is the part of an alarm's reason data the scaling decision uses.
type ReasonData struct {
	// RecentDatapoints are the datapoints that caused the transition.
	RecentDatapoints []float64
	// Threshold is the alarm threshold; valid only if HasThreshold.
	Threshold    float64
	HasThreshold bool
}

// StateChange is the normalised alarm state change.
type StateChange struct {
	Source        Source
	AlarmName     string
	AlarmARN      string
	State         string
	PreviousState string
	// Timestamp is when the alarm changed state; it identifies the state
	// change (the same change delivered twice, or through two channels, has
	// the same Timestamp).
	Timestamp  time.Time
	Reason     string
	ReasonData ReasonData
	// ComparisonOperator is the alarm's operator when the payload carries it
	// (SNS) or when it can be read from the reason text; may be empty.
	ComparisonOperator string
	Region             string
	AccountID          string
}

// KeyTimeLayout formats StateChange.Timestamp for registry keys and messages.
const KeyTimeLayout = "2006-01-02T15:04:05.000Z"

// TimeKey is the state-change time in the registry's key format (UTC,
// millisecond precision, "Z" suffix).
func (s *StateChange) TimeKey() string {
	return s.Timestamp.UTC().Format(KeyTimeLayout)
}
