// Package charts holds Gantry's Helm chart (charts/gantry). Its tests lint the
// chart with Helm's SDK, render it with default and non-default values and check
// the objects, compare the bundled Gateway API CRDs with the pinned module, and
// apply the rendered output to a real API server (envtest) as a server-side dry
// run. They also check the container image recipe (../Dockerfile).
package charts
