//go:build !squall_lean

package cluster

import (
	"archive/tar"
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	dockerclient "github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"

	"github.com/squallbench/squall/deploy"
)

// ImageTag is the tag of the squall image for binary bin.
func ImageTag(bin string) (string, error) {
	f, err := os.Open(bin)
	if err != nil {
		return "", fmt.Errorf("hash squall binary: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("hash squall binary: %w", err)
	}
	h.Write(deploy.Dockerfile)
	return ImageRepo + ":" + hex.EncodeToString(h.Sum(nil))[:16], nil
}

// EnsureImage returns the squall image for bin, building it from the
// embedded Dockerfile when no image with that content hash exists. built
// says whether it had to build.
func EnsureImage(ctx context.Context, bin string) (ref string, built bool, err error) {
	ref, err = ImageTag(bin)
	if err != nil {
		return "", false, err
	}
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return "", false, dockerUnavailable(err)
	}
	defer cli.Close()
	if _, err := cli.ImageInspect(ctx, ref); err == nil {
		return ref, false, nil
	} else if !errdefs.IsNotFound(err) {
		return "", false, dockerUnavailable(err)
	}
	if err := buildImage(ctx, cli, bin, ref); err != nil {
		return "", false, err
	}
	return ref, true, nil
}

func dockerUnavailable(err error) error {
	return Usagef("no Docker engine answers (%v): --cluster container needs one (is dockerd running, is DOCKER_HOST right?)", err)
}

// buildImage streams the build context deploy/Dockerfile expects (squall,
// an empty data/, the Dockerfile) to the engine. Nothing is pulled: the
// image is FROM scratch.
func buildImage(ctx context.Context, cli *testcontainers.DockerClient, bin, ref string) error {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeContext(pw, bin)) }()
	res, err := cli.ImageBuild(ctx, pr, dockerclient.ImageBuildOptions{
		Tags:        []string{ref},
		Dockerfile:  "Dockerfile",
		Remove:      true,
		ForceRemove: true,
		PullParent:  false,
		Labels:      map[string]string{"io.squall.image": "squall"},
	})
	if err != nil {
		pr.CloseWithError(err)
		return fmt.Errorf("build image %s: %w", ref, err)
	}
	defer res.Body.Close()
	// The engine reports build errors in the stream, not as a status.
	var last string
	sc := bufio.NewScanner(res.Body)
	sc.Buffer(make([]byte, 64*1024), 4*1024*1024)
	for sc.Scan() {
		var msg struct {
			Stream string `json:"stream"`
			Error  string `json:"error"`
		}
		if json.Unmarshal(sc.Bytes(), &msg) != nil {
			continue
		}
		if msg.Error != "" {
			return fmt.Errorf("build image %s: %s", ref, strings.TrimSpace(msg.Error))
		}
		if s := strings.TrimSpace(msg.Stream); s != "" {
			last = s
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("build image %s: %w", ref, err)
	}
	if _, err := cli.ImageInspect(ctx, ref); err != nil {
		return fmt.Errorf("build image %s: not there after the build (last output: %s)", ref, last)
	}
	return nil
}

func writeContext(w io.Writer, bin string) error {
	tw := tar.NewWriter(w)
	now := time.Now()
	f, err := os.Open(bin)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Name: "squall", Mode: 0o755, Size: st.Size(), ModTime: now}); err != nil {
		return err
	}
	if _, err := io.Copy(tw, f); err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Name: "data/", Typeflag: tar.TypeDir, Mode: 0o755, ModTime: now}); err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Name: "Dockerfile", Mode: 0o644, Size: int64(len(deploy.Dockerfile)), ModTime: now}); err != nil {
		return err
	}
	if _, err := tw.Write(deploy.Dockerfile); err != nil {
		return err
	}
	return tw.Close()
}
