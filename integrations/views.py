"""The Stores section: connect, import progress, sync health, disconnect; OAuth."""

from django.contrib import messages
from django.http import Http404
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from integrations import conf, selectors
from integrations.forms import InstallShopifyForm, ManualStoreForm, connect_form_class
from integrations.models import ConnectionStatus
from integrations.platforms import registry
from integrations.services import connections
from integrations.shopify import connect as shopify_connect
from podhub.core.exceptions import PodhubError
from podhub.core.views import workspace_view


def _page(request, **extra):
    rows = selectors.store_list(workspace=request.workspace)
    ctx = {
        "section": "stores",
        "rows": rows,
        "platforms": connections.connectable_platforms(),
        "sandbox_platforms": connections.sandbox_platforms(),
        "sandbox_store_ids": {r.store.pk for r in rows
                              if r.connection and r.connection.is_active
                              and connections.is_sandbox(r.connection)},
        "install_form": InstallShopifyForm(),
        "manual_form": ManualStoreForm(),
        "oauth_enabled": bool(conf.api_key() and conf.api_secret()),
    }
    ctx.update(extra)
    return ctx


@workspace_view
def store_list(request):
    return render(request, "integrations/stores.html", _page(request))


@workspace_view
@require_http_methods(["GET", "POST"])
def connect_store(request, platform: str):
    """Connect a store of any registered platform: its `connect_fields()` as a form, then
    its `connect` (docs/architecture.md, "Adding a store platform"). The old
    /stores/shopify/connect/ and /stores/woocommerce/connect/ are this view."""
    chosen = connections.connectable(platform)  # 404 for any other
    form_class = connect_form_class(chosen)
    form = form_class(request.POST if request.method == "POST" else None)
    status = 200
    if request.method == "POST" and chosen.authorizes:  # OAuth: to the platform's consent
        return redirect(connections.store_authorize(
            workspace=request.workspace, membership=request.membership, user=request.user,
            platform=chosen.code))
    if request.method == "POST":
        status = 400
        if form.is_valid():
            try:
                conn = connections.store_connect(
                    workspace=request.workspace, membership=request.membership,
                    platform=chosen.code, credentials=form.cleaned_data)
            except PodhubError as exc:
                field = (exc.detail or {}).get("field")
                form.add_error(field if field in form.fields else None, exc.message)
                status = exc.status
            else:
                messages.success(request, f"{conn.shop_domain} is connected: its open orders "
                                          "are being imported and new ones arrive by "
                                          "themselves.")
                return redirect("integrations:health", store_id=conn.store_id)
    return render(request, "integrations/connect.html",
                  {"section": "stores", "platform": chosen, "form": form}, status=status)


@workspace_view
@require_GET
def connect_callback(request, platform: str):
    """An `authorizes` platform sends the seller back here with its grant (or a refusal)."""
    try:
        conn = connections.store_authorized(
            workspace=request.workspace, membership=request.membership, user=request.user,
            platform=platform, params=request.GET.dict())
    except PodhubError as exc:
        if exc.status == 404:
            raise
        messages.error(request, exc.message)
        return redirect("integrations:stores")
    messages.success(request, f"{conn.store.name} is connected: its open orders are being "
                              "imported and new ones arrive by themselves.")
    return redirect("integrations:health", store_id=conn.store_id)


@workspace_view
@require_POST
def connect_sandbox(request, platform: str):
    """"Try a sandbox store" (the embedded default only: settings.PODHUB_SANDBOX_STORES)."""
    if not connections.sandbox_platforms():
        raise Http404("There are no sandbox stores here.")
    conn = connections.store_connect_sandbox(workspace=request.workspace,
                                             membership=request.membership, platform=platform)
    messages.success(request, f"{conn.shop_domain} is your sandbox store: its orders are "
                              "being imported, and “Send a test order” sends the next one.")
    return redirect("integrations:health", store_id=conn.store_id)


@workspace_view
@require_POST
def sandbox_order(request, store_id: int):
    number = connections.sandbox_test_order(workspace=request.workspace, store_id=store_id)
    messages.success(request, f"The sandbox store sent order {number}; it arrives here in a "
                              "moment.")
    return redirect("integrations:health", store_id=store_id)


@workspace_view
@require_POST
def create_manual(request):
    form = ManualStoreForm(request.POST)
    if form.is_valid():
        store = connections.store_create_manual(workspace=request.workspace,
                                                name=form.cleaned_data["name"])
        messages.success(request, f"Store “{store.name}” added for outside orders.")
    else:
        messages.error(request, "Give the store a name.")
    return redirect("integrations:stores")


@workspace_view
@require_POST
def install_shopify(request):
    form = InstallShopifyForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Enter the shop address.")
        return redirect("integrations:stores")
    url = shopify_connect.oauth_begin(workspace=request.workspace, user=request.user,
                                  **form.cleaned_data)
    return redirect(url)


@workspace_view
@require_GET
def oauth_callback(request):
    try:
        conn = shopify_connect.oauth_complete(workspace=request.workspace, user=request.user,
                                          params=request.GET.dict())
    except PodhubError as exc:
        messages.error(request, exc.message)
        return redirect("integrations:stores")
    messages.success(request, f"{conn.shop_domain} is connected; its open orders are being "
                              "imported.")
    return redirect("integrations:health", store_id=conn.store_id)


@workspace_view
def health(request, store_id: int):
    conn = selectors.connection_get(workspace=request.workspace, store_id=store_id)
    platform = registry.find(conn.platform)  # None: a platform no longer listed
    ctx = {"section": "stores", "h": selectors.sync_health(workspace=request.workspace,
                                                          connection=conn),
           "webhook_url": platform.webhook_url(conn) if platform else "",
           "products": selectors.publishable_products(workspace=request.workspace,
                                                      connection=conn),
           "links": selectors.product_links(workspace=request.workspace, connection=conn)}
    return render(request, "integrations/health.html", ctx)


@workspace_view
@require_POST
def publish(request, store_id: int):
    from integrations.services.outbox import publish_catalog_product

    conn = selectors.connection_get(workspace=request.workspace, store_id=store_id)
    try:
        product_id = int(request.POST.get("product_id", ""))
        markup = int(request.POST.get("markup_percent", "100") or 100)
    except ValueError:
        messages.error(request, "Choose a product and a whole-number markup.")
        return redirect("integrations:health", store_id=store_id)
    publish_catalog_product(workspace=request.workspace, store=conn.store,
                            product_id=product_id, markup_percent=markup)
    messages.success(request, "Publishing the product to the store; it shows under "
                              "“Pushes to the store”.")
    return redirect("integrations:health", store_id=store_id)


@workspace_view
def import_progress(request, store_id: int):
    conn = selectors.connection_get(workspace=request.workspace, store_id=store_id)
    job = selectors.latest_import(workspace=request.workspace, connection=conn)
    return render(request, "integrations/_import_progress.html", {"job": job, "conn": conn})


@workspace_view
@require_POST
def disconnect(request, store_id: int):
    conn = connections.store_disconnect(workspace=request.workspace, store_id=store_id)
    messages.success(request, f"{conn.shop_domain} is disconnected: PodHub neither reads nor "
                              "writes it any more. Its orders stay here.")
    return redirect("integrations:stores")


@workspace_view
@require_POST
def reconcile_now(request, store_id: int):
    from integrations.tasks import reconcile_store_task

    conn = selectors.connection_get(workspace=request.workspace, store_id=store_id)
    if conn.status != ConnectionStatus.ACTIVE:
        messages.error(request, "This store is not connected.")
    else:
        reconcile_store_task.delay(workspace_id=conn.workspace_id, connection_id=conn.pk)
        messages.success(request, "Re-reading the store's recent orders now.")
    return redirect("integrations:health", store_id=store_id)


def _ids(request) -> list[int]:
    return [int(v) for v in request.POST.getlist("ids") if v.isdigit() and len(v) < 19]


@workspace_view
@require_POST
def replay_deliveries(request, store_id: int):
    """Process failed deliveries again (one, the ticked ones, or every failed one)."""
    from integrations.services.inbox import inbox_replay

    conn = selectors.connection_get(workspace=request.workspace, store_id=store_id)
    ids = _ids(request)
    if request.POST.get("all_failed"):
        ids = list(selectors.deliveries(workspace=request.workspace, connection=conn,
                                        status="failed").values_list("pk", flat=True)[:500])
    done = inbox_replay(workspace=request.workspace, inbox_ids=ids, store_id=store_id)
    if done:
        what = "delivery" if len(done) == 1 else f"{len(done)} deliveries"
        messages.success(request, f"Processing {what} again; the result shows below in a "
                         "moment.")
    else:
        messages.error(request, "Nothing to replay: only failed or skipped deliveries can be.")
    return redirect("integrations:health", store_id=store_id)


@workspace_view
@require_POST
def retry_pushes(request, store_id: int):
    from integrations.services.outbox import outbox_retry

    selectors.connection_get(workspace=request.workspace, store_id=store_id)
    done = outbox_retry(workspace=request.workspace, message_ids=_ids(request),
                        store_id=store_id)
    if done:
        messages.success(request, f"Trying {len(done)} push{'es' if len(done) > 1 else ''} "
                         "again now.")
    else:
        messages.error(request, "Nothing to retry: only failed pushes can be.")
    return redirect("integrations:health", store_id=store_id)


@workspace_view
def order_panel(request, order_id: int):
    """The order page's "store sync" panel (loaded into the orders shell with htmx)."""
    sync = selectors.order_sync(workspace=request.workspace, order_id=order_id)
    return render(request, "integrations/_order_panel.html", {"sync": sync})
