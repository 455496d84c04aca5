package bootstrap

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestGroupForms: every group form Gantry reserves yields an Envoy and a gRPC
// bootstrap whose node cluster is that group.
func TestGroupForms(t *testing.T) {
	for _, group := range []string{
		"gateway/default/gw",
		"gateway/team-a/edge.example", // a Gateway name is a DNS subdomain
		"mesh/default",
		"mesh/shop/reviews",
		"grpc/default/reviews-client",
	} {
		t.Run(group, func(t *testing.T) {
			if err := ValidateGroup(group); err != nil {
				t.Fatalf("ValidateGroup: %v", err)
			}
			b, err := Envoy(Options{Group: group})
			if err != nil {
				t.Fatalf("Envoy: %v", err)
			}
			if b.Node.Cluster != group {
				t.Errorf("Envoy node cluster = %q", b.Node.Cluster)
			}
			data, err := GRPC(Options{Group: group, NodeID: "client-1"})
			if err != nil {
				t.Fatalf("GRPC: %v", err)
			}
			var got struct {
				Node GRPCNode `json:"node"`
			}
			if err := json.Unmarshal(data, &got); err != nil {
				t.Fatal(err)
			}
			if got.Node.Cluster != group || got.Node.Metadata[MetadataFlavor] != FlavorGRPC {
				t.Errorf("gRPC node = %+v", got.Node)
			}
		})
	}
}

func TestGroupErrors(t *testing.T) {
	tests := []struct{ group, want string }{
		{"", "a group is required (gateway/<namespace>/<name>, mesh/<namespace>"},
		{"gw", `group "gw": want gateway/<namespace>/<name>, mesh/<namespace>, mesh/<namespace>/<service> or grpc/<namespace>/<name>`},
		{"gateway/default", `group "gateway/default": want gateway/<namespace>/<name>`},
		{"gateway/default/gw/extra", `group "gateway/default/gw/extra": want`},
		{"grpc/default", `group "grpc/default": want`},
		{"mesh", `group "mesh": want`},
		{"mesh/default/reviews/v1", `group "mesh/default/reviews/v1": want`},
		{"sidecar/default/x", `group "sidecar/default/x": unknown role "sidecar"`},
		{"mesh/", `group "mesh/": namespace "":`},
		{"mesh//reviews", `group "mesh//reviews": namespace "":`},
		{"gateway/Default/gw", `group "gateway/Default/gw": namespace "Default":`},
		{"gateway/default/", `group "gateway/default/": name "":`},
		{"grpc/default/Bad_Name", `group "grpc/default/Bad_Name": name "Bad_Name":`},
	}
	for _, tc := range tests {
		t.Run(tc.group, func(t *testing.T) {
			_, envoyErr := Envoy(Options{Group: tc.group})
			_, grpcErr := GRPC(Options{Group: tc.group})
			for i, err := range []error{envoyErr, grpcErr} {
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("%s: err = %v, want %q", []string{"Envoy", "GRPC"}[i], err, tc.want)
				}
			}
		})
	}
}
