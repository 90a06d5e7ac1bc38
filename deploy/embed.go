// Package deploy holds what squall needs to put itself into a container:
// the Dockerfile of the FROM scratch image, embedded so `squall run
// --cluster container` can build its image without the source tree.
package deploy

import _ "embed"

// Dockerfile is deploy/Dockerfile.
//
//go:embed Dockerfile
var Dockerfile []byte
