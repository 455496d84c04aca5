package analyze

import (
	"bufio"
	"bytes"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/util/version"
	"sigs.k8s.io/gateway-api/pkg/consts"
	"sigs.k8s.io/yaml"

	gwapiv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/gantryproxy/gantry/gateway/resource"
)

// MinBundleVersion is the oldest Gateway API CRD bundle Gantry supports: the
// first patch release of the minor version Gantry is built against.
var MinBundleVersion = minBundle(consts.BundleVersion)

func minBundle(v string) string {
	sv, err := version.ParseSemantic(v)
	if err != nil {
		return v
	}
	return "v" + version.MajorMinor(sv.Major(), sv.Minor()).String() + ".0"
}

// CRD is a Gateway API CustomResourceDefinition found in the input or in
// the cluster.
type CRD struct {
	Name          string
	BundleVersion string // the gateway.networking.k8s.io/bundle-version annotation
	Source        resource.Source
}

const kindCRD = "CustomResourceDefinition"

// ScanCRDs finds the Gateway API CRDs among the YAML documents of one file
// (the loader ignores CRDs; analyze reads their bundle version).
func ScanCRDs(file string, data []byte) []CRD {
	var out []CRD
	for _, doc := range splitDocuments(data) {
		var obj struct {
			Kind     string `json:"kind"`
			Metadata struct {
				Name        string            `json:"name"`
				Annotations map[string]string `json:"annotations"`
			} `json:"metadata"`
		}
		if err := yaml.Unmarshal(doc.data, &obj); err != nil || obj.Kind != kindCRD {
			continue
		}
		if !strings.HasSuffix(obj.Metadata.Name, "."+gwapiv1.GroupName) {
			continue
		}
		out = append(out, CRD{
			Name:          obj.Metadata.Name,
			BundleVersion: obj.Metadata.Annotations[consts.BundleVersionAnnotation],
			Source:        resource.Source{File: file, Line: doc.line},
		})
	}
	return out
}

type document struct {
	line int // first line with content
	data []byte
}

// splitDocuments cuts a YAML stream at "---" lines.
func splitDocuments(data []byte) []document {
	var docs []document
	var cur bytes.Buffer
	start, n := 0, 0
	flush := func() {
		if start > 0 {
			docs = append(docs, document{line: start, data: bytes.Clone(cur.Bytes())})
		}
		cur.Reset()
		start = 0
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	for sc.Scan() {
		n++
		line := sc.Text()
		if strings.HasPrefix(line, "---") {
			flush()
			continue
		}
		trimmed := strings.TrimSpace(line)
		if start == 0 && trimmed != "" && !strings.HasPrefix(trimmed, "#") {
			start = n
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
	}
	flush()
	return docs
}

// crdVersionAnalyzer compares the Gateway API CRD bundle version with
// MinBundleVersion.
type crdVersionAnalyzer struct{}

func (crdVersionAnalyzer) Name() string { return "crd-version" }
func (crdVersionAnalyzer) Description() string {
	return "Gateway API CRDs are from bundle " + MinBundleVersion + " or newer"
}

func (crdVersionAnalyzer) Run(ctx *Context) {
	minV := version.MustParseSemantic(MinBundleVersion)
	for _, crd := range ctx.CRDs {
		k := key(kindCRD, "", crd.Name)
		if crd.BundleVersion == "" {
			continue // no annotation: not from a released bundle
		}
		v, err := version.ParseSemantic(crd.BundleVersion)
		if err != nil {
			v, err = version.ParseGeneric(crd.BundleVersion)
		}
		if err != nil || v.LessThan(minV) {
			ctx.reportAt(CRDBundleTooOld, k, crd.Source, "bundle version %s is older than %s, the oldest Gantry supports", crd.BundleVersion, MinBundleVersion)
		}
	}
}

// gatewayClassAnalyzer checks that every Gateway's class exists and that
// someone runs each class's controller.
type gatewayClassAnalyzer struct{}

func (gatewayClassAnalyzer) Name() string { return "gateway-classes" }
func (gatewayClassAnalyzer) Description() string {
	return "Gateways name an existing GatewayClass, and a controller accepts each class"
}

func (gatewayClassAnalyzer) Run(ctx *Context) {
	idx := ctx.index()
	given := classNames(ctx.Set)
	for g := range ctx.Set.Gateways.Values() {
		name := string(g.Spec.GatewayClassName)
		k := key(resource.KindGateway, g.Namespace, g.Name)
		if slices.Contains(ctx.AssumedClasses, name) {
			real := slices.DeleteFunc(slices.Clone(given), func(n string) bool { return slices.Contains(ctx.AssumedClasses, n) })
			ctx.Report(GatewayClassAssumed, k, "GatewayClass %q is not in the input%s: processed as a class of %s", name, didYouMean(name, append(real, DefaultClassName)), ctx.ControllerName)
			continue
		}
		c, ok := idx.classes[name]
		switch {
		case !ok:
			ctx.Report(GatewayClassNotFound, k, "GatewayClass %q does not exist%s: no controller programs this Gateway", name, didYouMean(name, given))
		case string(c.Spec.ControllerName) != ctx.ControllerName && c.Spec.ControllerName != "":
			ctx.Report(GatewayClassOtherController, k, "GatewayClass %q belongs to controller %q, not Gantry (%s): this Gateway is not translated or analyzed", name, c.Spec.ControllerName, ctx.ControllerName)
		}
	}
	for c := range ctx.Set.GatewayClasses.Values() {
		k := key(resource.KindGatewayClass, "", c.Name)
		ctrl := string(c.Spec.ControllerName)
		switch {
		case ctrl == "":
			ctx.Report(GatewayClassNoController, k, "spec.controllerName is empty: no controller will accept this class")
		case ctrl == ctx.ControllerName:
			// Gantry's own: its status comes from the translator.
		case ctx.Live && !meta.IsStatusConditionTrue(c.Status.Conditions, string(gwapiv1.GatewayClassConditionStatusAccepted)):
			ctx.Report(GatewayClassNoController, k, "no controller has accepted this class: no controller named %q appears to be running", ctrl)
		}
	}
}
