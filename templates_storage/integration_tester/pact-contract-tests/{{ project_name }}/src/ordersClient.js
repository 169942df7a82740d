/**
 * HTTP client the consumer ({{ consumer_name }}) uses to talk to {{ provider_name }}.
 * The contract tests exercise this real code against Pact's mock server.
 */
export class OrdersClient {
  /** @param {string} baseUrl */
  constructor(baseUrl) {
    this.baseUrl = baseUrl.replace(/\/$/, "");
  }

  /** @param {string} orderId */
  async getOrder(orderId) {
    const response = await fetch(`${this.baseUrl}/orders/${encodeURIComponent(orderId)}`, {
      headers: { Accept: "application/json" },
    });
    if (response.status === 404) return null;
    if (!response.ok) throw new Error(`GET /orders/${orderId} failed: ${response.status}`);
    const body = await response.json();
    return {
      id: body.id,
      status: body.status,
      total: body.totalCents / 100,
      items: body.items.map((item) => ({ sku: item.sku, quantity: item.quantity })),
    };
  }

  /** @param {Array<{ sku: string, quantity: number }>} items */
  async createOrder(items) {
    const response = await fetch(`${this.baseUrl}/orders`, {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify({ items }),
    });
    if (response.status !== 201) throw new Error(`POST /orders failed: ${response.status}`);
    return response.json();
  }
}
