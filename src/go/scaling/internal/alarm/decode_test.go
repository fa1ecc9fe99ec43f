package alarm

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func readSample(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("read sample: %v", err)
	}
	return b
}

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestDecodeSamples(t *testing.T) {
	tests := []struct {
		file string
		want StateChange
	}{
		{
			file: "direct-metric-alarm.json",
			want: StateChange{
				Source:        SourceDirect,
				AlarmName:     "lambda-demo-metric-alarm",
				AlarmARN:      "arn:aws:cloudwatch:us-east-1:444455556666:alarm:lambda-demo-metric-alarm",
				State:         StateAlarm,
				PreviousState: StateInsufficientData,
				Timestamp:     ts("2023-08-04T12:36:15.490Z"),
				Reason:        "test",
				Region:        "us-east-1",
				AccountID:     "444455556666",
			},
		},
		{
			file: "direct-metric-alarm-breach.json",
			want: StateChange{
				Source:             SourceDirect,
				AlarmName:          "web-cpu-high",
				AlarmARN:           "arn:aws:cloudwatch:eu-west-1:111122223333:alarm:web-cpu-high",
				State:              StateAlarm,
				PreviousState:      StateOK,
				Timestamp:          ts("2024-05-14T09:21:07.311Z"),
				Reason:             "Threshold Crossed: 2 out of the last 2 datapoints [88.1 (14/05/24 09:20:00), 93.4 (14/05/24 09:15:00)] were greater than the threshold (70.0) (minimum 2 datapoints for OK -> ALARM transition).",
				ReasonData:         ReasonData{RecentDatapoints: []float64{93.4, 88.1}, Threshold: 70, HasThreshold: true},
				ComparisonOperator: "GreaterThanThreshold",
				Region:             "eu-west-1",
				AccountID:          "111122223333",
			},
		},
		{
			file: "eventbridge-state-change.json",
			want: StateChange{
				Source:             SourceEventBridge,
				AlarmName:          "ServerCpuTooHigh",
				AlarmARN:           "arn:aws:cloudwatch:us-east-1:123456789012:alarm:ServerCpuTooHigh",
				State:              StateAlarm,
				PreviousState:      StateOK,
				Timestamp:          ts("2019-10-02T17:04:40.989Z"),
				Reason:             "Threshold Crossed: 1 out of the last 1 datapoints [99.50160229693434 (02/10/19 16:59:00)] was greater than the threshold (50.0) (minimum 1 datapoint for OK -> ALARM transition).",
				ReasonData:         ReasonData{RecentDatapoints: []float64{99.50160229693434}, Threshold: 50, HasThreshold: true},
				ComparisonOperator: "GreaterThanThreshold",
				Region:             "us-east-1",
				AccountID:          "123456789012",
			},
		},
		{
			file: "sns-alarm.json",
			want: StateChange{
				Source:             SourceSNS,
				AlarmName:          "EXAMPLE",
				AlarmARN:           "arn:aws:cloudwatch:REGION:ACCOUNT_NUMBER:alarm:EXAMPLE",
				State:              StateAlarm,
				PreviousState:      StateInsufficientData,
				Timestamp:          ts("2015-06-03T17:43:27.123Z"),
				Reason:             "Threshold Crossed: 1 out of the last 1 datapoints [1234.0 (06/03/15 17:43:27)] was greater than the threshold (0.0) (minimum 1 datapoint for OK -> ALARM transition).",
				ReasonData:         ReasonData{RecentDatapoints: []float64{1234}, Threshold: 0, HasThreshold: true},
				ComparisonOperator: "GreaterThanThreshold",
				// The sample's placeholders are kept: "REGION" in the ARN is not a region code.
				Region:    "EXAMPLE",
				AccountID: "123456789012",
			},
		},
	}
	for _, tt := range tests {
		tt := tt
		t.Run(tt.file, func(t *testing.T) {
			got, err := Decode(readSample(t, tt.file))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Decode mismatch\n got: %+v\nwant: %+v", got, tt.want)
			}
		})
	}
}

// The same state change reaching the function through different channels
// must produce the same idempotency key.
func TestTimeKeyIsChannelIndependent(t *testing.T) {
	direct := []byte(`{"source":"aws.cloudwatch","alarmArn":"arn:aws:cloudwatch:us-east-1:1:alarm:a","alarmData":{"alarmName":"a","state":{"value":"ALARM","timestamp":"2024-01-02T03:04:05.678+0000"}}}`)
	sns := []byte(`{"Records":[{"EventSource":"aws:sns","Sns":{"Message":"{\"AlarmName\":\"a\",\"NewStateValue\":\"ALARM\",\"StateChangeTime\":\"2024-01-02T03:04:05.678+0000\"}"}}]}`)
	a, err := Decode(direct)
	if err != nil {
		t.Fatal(err)
	}
	b, err := Decode(sns)
	if err != nil {
		t.Fatal(err)
	}
	if a.TimeKey() != b.TimeKey() || a.TimeKey() != "2024-01-02T03:04:05.678Z" {
		t.Fatalf("keys differ: %q vs %q", a.TimeKey(), b.TimeKey())
	}
}

func TestDecodeRejects(t *testing.T) {
	tests := []struct {
		name    string
		payload string
		is      error
		msg     string
	}{
		{"empty", ``, ErrUnsupported, "unsupported event: payload is not a JSON object"},
		{"array", `[1,2]`, ErrUnsupported, "not a JSON object"},
		{"null", `null`, ErrUnsupported, "not a JSON object"},
		{"string", `"hello"`, ErrUnsupported, "not a JSON object"},
		{"empty object", `{}`, ErrUnsupported, "empty JSON object"},
		{"malformed", `{"source":`, ErrUnsupported, "malformed JSON"},
		{"s3 event", `{"Records":[{"eventSource":"aws:s3","s3":{}}]}`, ErrUnsupported, `event source "aws:s3"`},
		{"api gateway", `{"httpMethod":"GET","path":"/"}`, ErrUnsupported, "keys: httpMethod, path"},
		{"other source", `{"source":"aws.ec2","detail-type":"EC2 Instance State-change Notification","detail":{}}`, ErrUnsupported, `source "aws.ec2"`},
		{"alarm config change", string(readSample(t, "eventbridge-config-change.json")), ErrUnsupported, `detail-type "CloudWatch Alarm Configuration Change"`},
		{"plain sns message", string(readSample(t, "sns-plain-message.json")), ErrUnsupported, "not a CloudWatch alarm notification"},
		{"two sns records", `{"Records":[{"EventSource":"aws:sns"},{"EventSource":"aws:sns"}]}`, ErrUnsupported, "2 records"},
		{"direct without name", `{"source":"aws.cloudwatch","alarmData":{"state":{"value":"ALARM","timestamp":"2024-01-02T03:04:05.678+0000"}}}`, ErrInvalid, "alarm name"},
		{"direct bad state", `{"source":"aws.cloudwatch","alarmData":{"alarmName":"a","state":{"value":"PANIC","timestamp":"2024-01-02T03:04:05.678+0000"}}}`, ErrInvalid, `unknown alarm state "PANIC"`},
		{"direct bad time", `{"source":"aws.cloudwatch","alarmData":{"alarmName":"a","state":{"value":"OK","timestamp":"yesterday"}}}`, ErrInvalid, "state change time"},
		{"eventbridge no detail", `{"source":"aws.cloudwatch","detail-type":"CloudWatch Alarm State Change"}`, ErrInvalid, "without a detail"},
	}
	for _, tt := range tests {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			got, err := Decode([]byte(tt.payload))
			if err == nil {
				t.Fatalf("Decode accepted the payload: %+v", got)
			}
			if !errors.Is(err, tt.is) {
				t.Errorf("error %q does not wrap %v", err, tt.is)
			}
			if !strings.Contains(err.Error(), tt.msg) {
				t.Errorf("error %q does not mention %q", err, tt.msg)
			}
			if !reflect.DeepEqual(got, StateChange{}) {
				t.Errorf("non-zero StateChange on error: %+v", got)
			}
		})
	}
}

func TestParseReasonText(t *testing.T) {
	tests := []struct {
		reason string
		want   ReasonData
	}{
		{"Threshold Crossed: 2 datapoints [3.5 (20/07/20 10:00:00), 2.0 (20/07/20 09:55:00)] were less than the threshold (4.0).",
			ReasonData{RecentDatapoints: []float64{3.5, 2}, Threshold: 4, HasThreshold: true}},
		{"Threshold Crossed: 1 datapoint [NaN (x), Inf (y), 7 (z)] was greater than the threshold (1e999).",
			ReasonData{RecentDatapoints: []float64{7}}},
		{"test", ReasonData{}},
		{"datapoints [1.0", ReasonData{}},
	}
	for _, tt := range tests {
		if got := parseReasonText(tt.reason); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("parseReasonText(%q) = %+v, want %+v", tt.reason, got, tt.want)
		}
	}
}

func TestInferOperator(t *testing.T) {
	tests := map[string]string{
		"1 datapoint [5 (x)] was less than the threshold (9.0).":                 "LessThanThreshold",
		"1 datapoint [5 (x)] was not less than or equal to the threshold (1.0).": "LessThanOrEqualToThreshold",
		"1 datapoint [5 (x)] was not greater than the threshold (9.0).":          "GreaterThanThreshold",
		"1 datapoint [9 (x)] was greater than or equal to the threshold (9.0).":  "GreaterThanOrEqualToThreshold",
		"Insufficient Data: 5 datapoints were unknown.":                          "",
	}
	for reason, want := range tests {
		if got := inferOperator(reason); got != want {
			t.Errorf("inferOperator(%q) = %q, want %q", reason, got, want)
		}
	}
}

// FuzzDecode checks that Decode never panics and that whatever it accepts
// is a complete state change. Seeds are the AWS-documented samples.
func FuzzDecode(f *testing.F) {
	entries, err := os.ReadDir("testdata")
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".json") {
			f.Add(readSample(f, e.Name()))
		}
	}
	f.Add([]byte(`{"source":"aws.cloudwatch","alarmData":{"alarmName":"a","state":{"value":"OK","reasonData":{"recentDatapoints":[1],"threshold":2},"timestamp":"2024-01-02T03:04:05Z"}}}`))
	f.Add([]byte(`{"Records":[{"EventSource":"aws:sns","Sns":{"Message":"{\"AlarmName\":\"a\",\"NewStateValue\":\"OK\",\"StateChangeTime\":\"2024-01-02T03:04:05.000+0000\"}"}}]}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		sc, err := Decode(payload)
		if err != nil {
			if !errors.Is(err, ErrUnsupported) && !errors.Is(err, ErrInvalid) {
				t.Fatalf("error wraps neither ErrUnsupported nor ErrInvalid: %v", err)
			}
			return
		}
		if sc.AlarmName == "" || sc.Timestamp.IsZero() {
			t.Fatalf("accepted incomplete state change: %+v", sc)
		}
		switch sc.State {
		case StateOK, StateAlarm, StateInsufficientData:
		default:
			t.Fatalf("accepted unknown state %q", sc.State)
		}
		if sc.Timestamp.Location() != time.UTC {
			t.Fatalf("timestamp not UTC: %v", sc.Timestamp)
		}
		for _, v := range sc.ReasonData.RecentDatapoints {
			if !finite(v) {
				t.Fatalf("non-finite datapoint %v", v)
			}
		}
		if sc.ReasonData.HasThreshold && !finite(sc.ReasonData.Threshold) {
			t.Fatalf("non-finite threshold")
		}
		if _, err := time.Parse(KeyTimeLayout, sc.TimeKey()); err != nil {
			t.Fatalf("time key %q does not round-trip: %v", sc.TimeKey(), err)
		}
	})
}
