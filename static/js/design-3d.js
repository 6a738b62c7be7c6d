// The 3D preview (templates/fulfillment/design.html; docs/print-files.md, "3D preview"): the
// current design wrapped on the product's shape (a cylinder for mugs and tumblers, a plane
// for posters, canvas and T-shirt fronts), rotated with the slider, the arrow keys or a drag.
// three.js is vendored (static/vendor/three/) and loaded only here. Without WebGL (some
// headless browsers, old devices) the still image shows instead.
const section = document.getElementById("view-3d");

function webglAvailable() {
  try {
    const c = document.createElement("canvas");
    return !!(window.WebGLRenderingContext && (c.getContext("webgl2") || c.getContext("webgl")));
  } catch (e) {
    return false;
  }
}

function fallback(reason) {
  const still = section.querySelector("[data-3d-fallback]");
  section.querySelector("[data-3d-stage]").hidden = true;
  section.querySelector("[data-3d-rotate]").closest("label").hidden = true;
  still.hidden = false;
  section.dataset.mode = "fallback";
  section.dataset.reason = reason;
}

async function start() {
  if (!section) return;
  if (!webglAvailable()) return fallback("no-webgl");
  let THREE;
  try {
    THREE = await import(section.dataset.three);
  } catch (e) {
    return fallback("load-failed");
  }
  const stage = section.querySelector("[data-3d-stage]");
  const slider = section.querySelector("[data-3d-rotate]");
  const [aw, ah] = section.dataset.aspect.split("/").map(Number);
  const aspect = aw / ah || 1;
  let renderer;
  try {
    renderer = new THREE.WebGLRenderer({antialias: true, alpha: true});
  } catch (e) {
    return fallback("no-webgl");
  }
  const width = stage.clientWidth || 480, height = Math.round(width * 3 / 4);
  renderer.setSize(width, height);
  renderer.setPixelRatio(Math.min(window.devicePixelRatio || 1, 2));
  stage.appendChild(renderer.domElement);
  const scene = new THREE.Scene();
  const camera = new THREE.PerspectiveCamera(35, width / height, 0.1, 100);
  camera.position.set(0, 0.3, 6);
  camera.lookAt(0, 0, 0);
  scene.add(new THREE.AmbientLight(0xffffff, 1.6));
  const light = new THREE.DirectionalLight(0xffffff, 1.4);
  light.position.set(3, 4, 5);
  scene.add(light);

  const material = new THREE.MeshStandardMaterial({color: 0xffffff, roughness: 0.5,
                                                   side: THREE.DoubleSide});
  let mesh;
  if (section.dataset.shape === "cylinder") {
    // the print area wraps most of the way round: its width is the circumference part
    const height3 = 2.2, radius = height3 * aspect / (2 * Math.PI * 0.85);
    // centred on theta 0, which faces the camera: the design's middle is in front
    const body = new THREE.CylinderGeometry(radius, radius, height3, 64, 1, true,
                                            -Math.PI * 0.85, Math.PI * 2 * 0.85);
    mesh = new THREE.Group();
    mesh.add(new THREE.Mesh(new THREE.CylinderGeometry(radius * 0.995, radius * 0.995, height3, 64),
                            new THREE.MeshStandardMaterial({color: 0xf8fafc, roughness: 0.4})));
    mesh.add(new THREE.Mesh(body, material));
  } else {
    const h = aspect >= 1 ? 3 / aspect : 3, w = h * aspect;
    mesh = new THREE.Mesh(new THREE.PlaneGeometry(w, h), material);
  }
  scene.add(mesh);

  const loader = new THREE.TextureLoader();
  function texture(url) {
    if (!url) return;
    loader.load(url, (tex) => {
      tex.colorSpace = THREE.SRGBColorSpace;
      if (material.map) material.map.dispose();
      material.map = tex;
      material.needsUpdate = true;
      draw();
    });
  }
  function draw() {
    mesh.rotation.y = (Number(slider.value) * Math.PI) / 180;
    renderer.render(scene, camera);
  }
  function turn(deg) {
    let v = Number(slider.value) + deg;
    if (v > 180) v -= 360;
    if (v < -180) v += 360;
    slider.value = String(v);
    draw();
  }
  slider.addEventListener("input", draw);
  stage.addEventListener("keydown", (e) => {
    if (e.key === "ArrowLeft") { turn(-10); e.preventDefault(); }
    if (e.key === "ArrowRight") { turn(10); e.preventDefault(); }
  });
  let dragX = null;
  stage.addEventListener("pointerdown", (e) => { dragX = e.clientX; stage.setPointerCapture(e.pointerId); });
  stage.addEventListener("pointermove", (e) => {
    if (dragX === null) return;
    turn((e.clientX - dragX) / 2);
    dragX = e.clientX;
  });
  stage.addEventListener("pointerup", () => { dragX = null; });
  // the live preview (design-editor.js) replaces the texture as the design changes
  document.addEventListener("design-preview", (e) => texture(e.detail.url));
  texture(section.dataset.texture);
  draw();
  section.dataset.mode = "webgl";
}

start();
