package awsapi

import (
	"net/http"
	"strings"

	"github.com/hydrant-dev/hydrant/ingest/auth"
)

// Authenticator decides who sent a request; see auth.Authenticator.
type Authenticator interface {
	// Precheck checks what it can before the body is read; a request it
	// refuses is answered without reading the body.
	Precheck(r *http.Request, f auth.Family) *auth.Error
	// Authenticate returns the request's principal (nil: anonymous, with
	// no credentials configured), given the body as received.
	Authenticate(r *http.Request, body []byte, f auth.Family) (*auth.Principal, *auth.Error)
}

// resourced is a request about one stream or delivery stream. Requests
// that are not (ListStreams, ListDeliveryStreams) are authorized on the
// account-wide resource "*", as IAM does.
type resourced interface {
	// resource returns the kind ("stream" or "deliverystream") and name
	// the request is about, as the handler will resolve them; name ""
	// when the request names none it can use.
	resource(s *Server) (kind, name string)
}

func (r *streamRef) resource(*Server) (string, string) {
	if r.StreamName != "" {
		return "stream", r.StreamName
	}
	name, _ := nameFromARN(r.StreamARN, "stream")
	return "stream", name
}

func (r *listShardsRequest) resource(s *Server) (string, string) {
	if r.NextToken != "" && r.StreamName == "" && r.StreamARN == "" {
		tok, _ := decodeListShardsToken(r.NextToken)
		return "stream", tok.Stream
	}
	return r.streamRef.resource(s)
}

func (r *getRecordsRequest) resource(s *Server) (string, string) {
	it, _ := s.decodeIterator(r.ShardIterator)
	return "stream", it.stream
}

func (r *firehosePutRecordRequest) resource(*Server) (string, string) {
	return "deliverystream", r.DeliveryStreamName
}

func (r *putRecordBatchRequest) resource(*Server) (string, string) {
	return "deliverystream", r.DeliveryStreamName
}

func (r *createDeliveryStreamRequest) resource(*Server) (string, string) {
	return "deliverystream", r.DeliveryStreamName
}

func (r *deleteDeliveryStreamRequest) resource(*Server) (string, string) {
	return "deliverystream", r.DeliveryStreamName
}

func (r *describeDeliveryStreamRequest) resource(*Server) (string, string) {
	return "deliverystream", r.DeliveryStreamName
}

func (r *createStreamRequest) resource(*Server) (string, string) { return "stream", r.StreamName }

// actionName is the IAM action of an X-Amz-Target:
// "Kinesis_20131202.PutRecords" → "kinesis:PutRecords".
func actionName(target string) string {
	prefix, op, _ := strings.Cut(target, ".")
	svc := "kinesis"
	if strings.HasPrefix(prefix, "Firehose_") {
		svc = "firehose"
	}
	return svc + ":" + op
}

// authorize asks c's principal whether it may run target on what req is
// about. The resource is the canonical ARN of the name the handler will
// use (never an ARN as the client spelled it), in the signing region.
func (s *Server) authorize(c *call, target string, req any) *apiError {
	if c.principal == nil {
		return nil // no credentials configured
	}
	action, resource := actionName(target), "*"
	if rr, ok := req.(resourced); ok {
		kind, name := rr.resource(s)
		service := "kinesis"
		if kind == "deliverystream" {
			service = "firehose"
		}
		resource = s.arn(service, c.region, kind+"/"+name)
	}
	if c.principal.Allowed(action, resource) {
		return nil
	}
	e := auth.AccessDenied(c.principal, action, resource, auth.FamilyAWS)
	return &apiError{status: e.Status, typ: e.Code, message: e.Message}
}
