package awsclient

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/autoscaling"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
)

type noDelay struct{}

func (noDelay) BackoffDelay(int, error) (time.Duration, error) { return 0, nil }

// fakeAWS answers DynamoDB GetItem and Auto Scaling SetDesiredCapacity,
// throttling the first `throttle` SetDesiredCapacity calls.
type fakeAWS struct {
	mu       sync.Mutex
	throttle int
	requests []string
	auth     []string
}

func (f *fakeAWS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	if target := r.Header.Get("X-Amz-Target"); target != "" {
		f.requests = append(f.requests, target)
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		_, _ = io.WriteString(w, `{"Item":{"pk":{"S":"p"},"sk":{"S":"s"}}}`)
		return
	}
	action := ""
	for _, kv := range strings.Split(string(body), "&") {
		if strings.HasPrefix(kv, "Action=") {
			action = strings.TrimPrefix(kv, "Action=")
		}
	}
	f.requests = append(f.requests, action)
	w.Header().Set("Content-Type", "text/xml")
	if action == "SetDesiredCapacity" && f.throttle > 0 {
		f.throttle--
		w.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(w, `<ErrorResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>r1</RequestId></ErrorResponse>`)
		return
	}
	_, _ = io.WriteString(w, `<SetDesiredCapacityResponse xmlns="http://autoscaling.amazonaws.com/doc/2011-01-01/"><ResponseMetadata><RequestId>r2</RequestId></ResponseMetadata></SetDesiredCapacityResponse>`)
}

func setEnv(t *testing.T, endpoint string) {
	dir := t.TempDir()
	t.Setenv("AWS_ENDPOINT_URL", endpoint)
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	t.Setenv("AWS_ENDPOINT_URL_DYNAMODB", "")
	t.Setenv("AWS_ENDPOINT_URL_AUTO_SCALING", "")
}

func TestLoadConfigHonoursEndpointURL(t *testing.T) {
	fake := &fakeAWS{}
	srv := httptest.NewServer(fake)
	defer srv.Close()
	setEnv(t, srv.URL)

	cfg, err := LoadConfig(context.Background(), Settings{Region: "us-east-1", MaxAttempts: 2, Backoff: noDelay{}})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(cfg.BaseEndpoint) != srv.URL {
		t.Fatalf("BaseEndpoint = %q, want %q", aws.ToString(cfg.BaseEndpoint), srv.URL)
	}
	db := dynamodb.NewFromConfig(cfg)
	out, err := db.GetItem(context.Background(), &dynamodb.GetItemInput{
		TableName: aws.String("t"),
		Key:       map[string]types.AttributeValue{"pk": &types.AttributeValueMemberS{Value: "p"}, "sk": &types.AttributeValueMemberS{Value: "s"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Item) != 2 || len(fake.requests) != 1 || fake.requests[0] != "DynamoDB_20120810.GetItem" {
		t.Fatalf("request did not reach the endpoint: %v %v", out.Item, fake.requests)
	}
}

func TestAutoScalingThrottlingIsRetried(t *testing.T) {
	tests := []struct {
		name        string
		maxAttempts int
		throttle    int
		wantErr     bool
		wantCalls   int
	}{
		{"succeeds after two throttles", 3, 2, false, 3},
		{"gives up after max attempts", 2, 5, true, 2},
		{"single attempt", 1, 1, true, 1},
	}
	for _, tt := range tests {
		tt := tt
		t.Run(tt.name, func(t *testing.T) {
			fake := &fakeAWS{throttle: tt.throttle}
			srv := httptest.NewServer(fake)
			defer srv.Close()
			setEnv(t, srv.URL)
			cfg, err := LoadConfig(context.Background(), Settings{Region: "us-east-1", MaxAttempts: tt.maxAttempts, Backoff: noDelay{}})
			if err != nil {
				t.Fatal(err)
			}
			asg := NewAutoScalingClients(cfg).For("eu-west-1")
			_, err = asg.SetDesiredCapacity(context.Background(), &autoscaling.SetDesiredCapacityInput{
				AutoScalingGroupName: aws.String("web-asg"), DesiredCapacity: aws.Int32(5), HonorCooldown: aws.Bool(false),
			})
			if tt.wantErr {
				var api smithy.APIError
				if !errors.As(err, &api) || api.ErrorCode() != "Throttling" {
					t.Fatalf("want Throttling error, got %v", err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if len(fake.requests) != tt.wantCalls {
				t.Fatalf("calls = %d (%v), want %d", len(fake.requests), fake.requests, tt.wantCalls)
			}
			if !strings.Contains(fake.auth[0], "/eu-west-1/autoscaling/") {
				t.Fatalf("request not signed for the ASG's region: %s", fake.auth[0])
			}
		})
	}
}

func TestAutoScalingClientsAreCachedPerRegion(t *testing.T) {
	c := NewAutoScalingClients(aws.Config{Region: "us-east-1"})
	if c.For("eu-west-1") != c.For("eu-west-1") || c.For("eu-west-1") == c.For("us-east-1") {
		t.Fatal("clients not cached per region")
	}
}
