#!/bin/bash
# Devstack plugin of the Aetos collector overlay.
#
# It relies on the cloudkitty plugin (see plugin_requires in settings), whose
# post-config phase installs CloudKitty from git (setup_develop), writes
# cloudkitty.conf and creates the cloudkitty service user. Our post-config
# phase runs after that one, so this is where we:
#   * replace the git CloudKitty with the overlay build (release wheel plus
#     this repository), before any CloudKitty service starts in "extra";
#   * complete [collector_aetos] and point [collect] metrics_conf at
#     this repository's metric file;
#   * give the cloudkitty user the role Aetos needs to see every project.
# Installing in our "install" phase would be undone by the cloudkitty
# plugin's setup_develop in post-config, and the aetos entry point would be
# gone by the time cloudkitty-processor starts.

function install_cloudkitty_aetos {
    pip_install -c $REQUIREMENTS_DIR/upper-constraints.txt $CLOUDKITTY_AETOS_DIR
}

function configure_cloudkitty_aetos {
    local conf=${CLOUDKITTY_CONF:-/etc/cloudkitty/cloudkitty.conf}
    if [[ "$CLOUDKITTY_COLLECTOR" != "aetos" ]]; then
        echo "WARNING: CLOUDKITTY_COLLECTOR is '$CLOUDKITTY_COLLECTOR', not" \
            "'aetos': the aetos collector is installed but not used"
    fi
    # With CLOUDKITTY_COLLECTOR=aetos the cloudkitty plugin has already
    # written "[collect] collector = aetos" and
    # "[collector_aetos] auth_section = authinfos". keystoneauth1 takes the
    # authentication options (auth_type, auth_url, cloudkitty's user name,
    # password and project) from the section auth_section names, so they
    # are not repeated here. interface and region_name are options of the
    # collector itself, which auth_section does not cover: set them here.
    iniset $conf collector_aetos interface $CLOUDKITTY_AETOS_INTERFACE
    iniset $conf collector_aetos region_name $REGION_NAME
    # What the cloudkitty plugin writes to metrics_conf changed across its
    # releases: some set CLOUDKITTY_METRICS_CONF to metrics.yml whatever
    # the job says and join it to /etc/cloudkitty (CloudKitty's own file),
    # others take it as a path. Set the absolute path here, after that
    # plugin, so that the job rates with this file on any of them.
    iniset $conf collect metrics_conf $CLOUDKITTY_AETOS_METRICS_CONF
}

function create_cloudkitty_aetos_role {
    # Aetos' default policy lets a token query every project
    # (telemetry:query:all_projects) with the service role, or with the
    # admin role. The cloudkitty plugin makes the cloudkitty user admin of
    # the service project; the service role is the least privileged of the
    # two, so grant it too and do not depend on admin for collection.
    get_or_create_role service
    get_or_add_user_project_role service cloudkitty $SERVICE_PROJECT_NAME
}

if [[ "$1" == "stack" && "$2" == "post-config" ]]; then
    echo_summary "Installing CloudKitty with the Aetos collector overlay"
    install_cloudkitty_aetos
    echo_summary "Configuring the CloudKitty Aetos collector"
    configure_cloudkitty_aetos
    if is_service_enabled key; then
        create_cloudkitty_aetos_role
    fi
fi
