#!/bin/bash
# Devstack plugin: install CloudKitty built from its release wheel plus this
# overlay over the CloudKitty the cloudkitty plugin installed from git, and
# point [collector_aetos] at devstack's Keystone with the cloudkitty service
# user (admin in the service project, so Aetos answers for every project).

function install_cloudkitty_aetos {
    pip_install -c $REQUIREMENTS_DIR/upper-constraints.txt $CLOUDKITTY_AETOS_DIR
}

function configure_cloudkitty_aetos {
    local conf=${CLOUDKITTY_CONF:-/etc/cloudkitty/cloudkitty.conf}
    iniset $conf collect collector aetos
    iniset $conf collector_aetos auth_type password
    iniset $conf collector_aetos auth_url $KEYSTONE_SERVICE_URI
    iniset $conf collector_aetos username cloudkitty
    iniset $conf collector_aetos password $SERVICE_PASSWORD
    iniset $conf collector_aetos project_name $SERVICE_PROJECT_NAME
    iniset $conf collector_aetos user_domain_id default
    iniset $conf collector_aetos project_domain_id default
    iniset $conf collector_aetos interface $CLOUDKITTY_AETOS_INTERFACE
    iniset $conf collector_aetos region_name $REGION_NAME
}

if [[ "$1" == "stack" && "$2" == "install" ]]; then
    echo_summary "Installing CloudKitty with the Aetos collector overlay"
    install_cloudkitty_aetos
elif [[ "$1" == "stack" && "$2" == "post-config" ]]; then
    echo_summary "Configuring the CloudKitty Aetos collector"
    configure_cloudkitty_aetos
fi
