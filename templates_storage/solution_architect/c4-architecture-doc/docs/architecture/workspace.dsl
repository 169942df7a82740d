/*
 * C4 model of {{ system_name }} in Structurizr DSL: https://docs.structurizr.com/dsl
 * Render locally: docker run -it --rm -p 8080:8080 -v "$PWD/docs/architecture:/usr/local/structurizr" structurizr/lite
 */
workspace "{{ system_name }}" "{{ system_description }}" {

    !identifiers hierarchical

    model {
        customer = person "Customer" "Places and tracks orders."
        staff = person "Fulfilment staff" "Picks, packs and ships orders."

        idp = softwareSystem "Identity provider" "Authenticates customers and staff (OIDC)." "External"
        payments = softwareSystem "Payment provider" "Authorises and captures card payments." "External"
        email = softwareSystem "E-mail service" "Sends transactional e-mail." "External"

        platform = softwareSystem "{{ system_name }}" "{{ system_description }}" {
            web = container "Web app" "Customer-facing single-page app." "React, TypeScript" "Browser"
            backoffice = container "Back-office app" "Order fulfilment UI for staff." "React, TypeScript" "Browser"
            api = container "Orders API" "Order lifecycle, validation, pricing." "Python, FastAPI" {
                orders = component "Orders module" "Create, pay, cancel orders." "Python package"
                catalogue = component "Catalogue client" "Reads prices and stock." "Python package"
                outbox = component "Outbox publisher" "Publishes domain events reliably." "Python package"
            }
            worker = container "Fulfilment worker" "Handles payment capture and notifications." "Python"
            db = container "Orders database" "Orders, customers, outbox." "PostgreSQL" "Database"
            queue = container "Event bus" "Domain events between containers." "RabbitMQ" "Queue"
        }

        customer -> platform.web "Browses and orders" "HTTPS"
        staff -> platform.backoffice "Fulfils orders" "HTTPS"
        platform.web -> platform.api "Calls" "JSON/HTTPS"
        platform.backoffice -> platform.api "Calls" "JSON/HTTPS"
        platform.web -> idp "Signs in via" "OIDC"
        platform.api -> idp "Validates tokens with" "JWKS/HTTPS"
        platform.api.orders -> platform.api.catalogue "Prices orders with"
        platform.api.orders -> platform.db "Reads and writes" "SQL/TLS"
        platform.api.outbox -> platform.db "Polls outbox table" "SQL/TLS"
        platform.api.outbox -> platform.queue "Publishes events" "AMQP"
        platform.worker -> platform.queue "Consumes events" "AMQP"
        platform.worker -> payments "Captures payments" "HTTPS"
        platform.worker -> email "Sends notifications" "HTTPS"

        production = deploymentEnvironment "Production" {
            deploymentNode "{{ cloud_provider }}" "" "{{ cloud_provider }}" {
                deploymentNode "Kubernetes cluster" "" "Kubernetes" {
                    deploymentNode "orders namespace" "" "Namespace" {
                        apiInstance = containerInstance platform.api
                        workerInstance = containerInstance platform.worker
                    }
                }
                deploymentNode "Managed PostgreSQL" "" "PostgreSQL 17, multi-AZ" {
                    dbInstance = containerInstance platform.db
                }
                deploymentNode "Managed RabbitMQ" "" "RabbitMQ 4, 3-node cluster" {
                    queueInstance = containerInstance platform.queue
                }
                deploymentNode "CDN" "" "Static hosting" {
                    webInstance = containerInstance platform.web
                    backofficeInstance = containerInstance platform.backoffice
                }
            }
        }
    }

    views {
        systemLandscape "Landscape" {
            include *
            autolayout lr
        }
        systemContext platform "Context" {
            include *
            autolayout lr
        }
        container platform "Containers" {
            include *
            autolayout lr
        }
        component platform.api "ApiComponents" {
            include *
            autolayout lr
        }
        deployment platform production "Production" {
            include *
            autolayout lr
        }

        styles {
            element "Person" {
                shape Person
                background #08427b
                color #ffffff
            }
            element "Software System" {
                background #1168bd
                color #ffffff
            }
            element "Container" {
                background #438dd5
                color #ffffff
            }
            element "Component" {
                background #85bbf0
                color #000000
            }
            element "External" {
                background #999999
            }
            element "Database" {
                shape Cylinder
            }
            element "Queue" {
                shape Pipe
            }
            element "Browser" {
                shape WebBrowser
            }
        }
    }
}
