"""The GraphQL documents PodHub sends (and the sandbox answers). Pinned to conf.api_version()."""

# Per page: requested cost = 2 + ORDERS_PAGE * (4 + LINES_PAGE) = 702 of a 1000 bucket
# (connections count; shippingLine and the money sets are objects).
ORDERS_PAGE = 50
LINES_PAGE = 10

# Money comes as {shopMoney presentmentMoney}: the mapping keeps the buyer's
# (presentment) money and the shop's beside it (docs/shopify.md "Money").
_MONEY = "{ shopMoney { amount currencyCode } presentmentMoney { amount currencyCode } }"

# The fields PodHub reads of a line and of an order, shared by the paginated documents
# (as fragments) and the bulk operation's document (inline: one source for both, so
# both hand `mapping.from_graphql` the same node).
_LINE_BODY = """
  id sku title variantTitle quantity currentQuantity unfulfilledQuantity
  customAttributes { key value }
  originalUnitPriceSet MONEY
  discountAllocations { allocatedAmountSet MONEY }
  product { id }
  variant { id }
""".replace("MONEY", _MONEY)

_ORDER_BODY = """
  id name email createdAt updatedAt cancelledAt closed test
  displayFinancialStatus displayFulfillmentStatus currencyCode presentmentCurrencyCode
  totalDiscountsSet MONEY
  totalShippingPriceSet MONEY
  totalTaxSet MONEY
  totalPriceSet MONEY
  currentTotalTaxSet MONEY
  currentTotalPriceSet MONEY
  shippingLine { originalPriceSet MONEY discountAllocations { allocatedAmountSet MONEY } }
  billingAddress { name firstName lastName }
  shippingAddress {
    name firstName lastName company address1 address2 city province provinceCode
    zip countryCodeV2 phone
  }
""".replace("MONEY", _MONEY)

LINE_FIELDS = "\nfragment PodhubLine on LineItem {" + _LINE_BODY + "}\n"

ORDER_FIELDS = ("\nfragment PodhubOrder on Order {" + _ORDER_BODY + """
  lineItems(first: LINES_PAGE) {
    pageInfo { hasNextPage endCursor }
    nodes { ...PodhubLine }
  }
}
""".replace("LINES_PAGE", str(LINES_PAGE)) + LINE_FIELDS)

ORDERS = """
query PodhubOrders($first: Int!, $after: String, $query: String) {
  orders(first: $first, after: $after, query: $query, sortKey: UPDATED_AT) {
    pageInfo { hasNextPage endCursor }
    nodes { ...PodhubOrder }
  }
}
""" + ORDER_FIELDS

ORDERS_COUNT = """
query PodhubOrdersCount($query: String) {
  ordersCount(query: $query, limit: null) { count precision }
}
"""

ORDER_LINES = """
query PodhubOrderLines($id: ID!, $after: String) {
  order(id: $id) {
    lineItems(first: 100, after: $after) {
      pageInfo { hasNextPage endCursor }
      nodes { ...PodhubLine }
    }
  }
}
""" + LINE_FIELDS

# One order, re-read when a delivery carries no order (orders/edited, refunds/create).
ORDER = """
query PodhubOrder($id: ID!) {
  order(id: $id) { ...PodhubOrder }
}
""" + ORDER_FIELDS

FULFILLMENT_ORDERS = """
query PodhubFulfillmentOrders($id: ID!) {
  order(id: $id) {
    id
    fulfillments(first: 10) { id status trackingInfo { company number url } }
    fulfillmentOrders(first: 5) {
      nodes {
        id status
        lineItems(first: 50) {
          nodes { id remainingQuantity totalQuantity lineItem { id sku } }
        }
      }
    }
  }
}
"""

FULFILLMENT_CREATE = """
mutation PodhubFulfillmentCreate($fulfillment: FulfillmentInput!, $message: String) {
  fulfillmentCreate(fulfillment: $fulfillment, message: $message) {
    fulfillment { id status trackingInfo { company number url } }
    userErrors { field message }
  }
}
"""

ORDER_CANCEL = """
mutation PodhubOrderCancel($orderId: ID!, $reason: OrderCancelReason!, $refund: Boolean!,
                           $restock: Boolean!, $notifyCustomer: Boolean, $staffNote: String) {
  orderCancel(orderId: $orderId, reason: $reason, refund: $refund, restock: $restock,
              notifyCustomer: $notifyCustomer, staffNote: $staffNote) {
    job { id done }
    orderCancelUserErrors { field message code }
    userErrors { field message }
  }
}
"""

REFUND_CREATE = """
mutation PodhubRefundCreate($input: RefundInput!) {
  refundCreate(input: $input) {
    refund { id totalRefundedSet { shopMoney { amount currencyCode } } }
    userErrors { field message }
  }
}
"""

# productCreate takes no variants since 2024-04; productSet is Shopify's mutation for
# syncing a product from an outside source: it creates, or updates the product its
# `identifier` names, with the whole variant list (shopify.dev, admin-graphql 2025-10,
# mutations/productSet and input-objects/ProductVariantSetInput).
PRODUCT_SET = """
mutation PodhubProductSet($input: ProductSetInput!, $identifier: ProductSetIdentifiers) {
  productSet(input: $input, identifier: $identifier, synchronous: true) {
    product { id title variants(first: 250) { nodes { id sku } } }
    userErrors { field message code }
  }
}
"""

# --- bulk operations (docs/shopify.md "Large stores: the bulk import") -----------------
# shopify.dev/docs/api/usage/bulk-operations/queries: one query runs in the background and
# its result is a JSONL file; a nested connection's nodes are lines of their own carrying
# `__parentId`. No `first`/pageInfo (the whole connection is read), no fragments needed.


def bulk_orders_query(search: str) -> str:
    """The bulk document of the import: the orders `search` finds, each with all its lines
    (the same fields as the paginated import reads)."""
    return ('{ orders(query: "' + search.replace('\\', '\\\\').replace('"', '\\"')
            + '", sortKey: CREATED_AT) { edges { node {' + _ORDER_BODY
            + " lineItems { edges { node {" + _LINE_BODY + "} } } } } } }")


# groupObjects: true — each order's lines follow it directly, so the file is read one
# order at a time (API 2025-10 defaults to true; later versions default to false:
# shopify.dev/changelog "Bulk operations group objects default changed to false").
BULK_RUN = """
mutation PodhubBulkRun($query: String!) {
  bulkOperationRunQuery(query: $query, groupObjects: true) {
    bulkOperation { id status }
    userErrors { field message }
  }
}
"""

_BULK_FIELDS = ("id status errorCode objectCount rootObjectCount fileSize url partialDataUrl "
                "query createdAt completedAt")

BULK_OPERATION = """
query PodhubBulkOperation($id: ID!) {
  node(id: $id) { ... on BulkOperation { FIELDS } }
}
""".replace("FIELDS", _BULK_FIELDS)

CURRENT_BULK_OPERATION = """
query PodhubCurrentBulkOperation { currentBulkOperation { FIELDS } }
""".replace("FIELDS", _BULK_FIELDS)

SHOP = """
query PodhubShop { shop { id name myshopifyDomain currencyCode } }
"""


def gid(kind: str, numeric: str | int) -> str:
    return f"gid://shopify/{kind}/{numeric}"


def numeric_id(value) -> str:
    """'gid://shopify/Order/123' -> '123'; 123 -> '123'."""
    text = str(value or "")
    return text.rsplit("/", 1)[-1]
